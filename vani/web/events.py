"""Inbound events: filtered list, detail, replay."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from vani.dashboard import events as service
from vani.dashboard.urls import provider_urls
from vani.models import EventStatus, Role
from vani.processing.events import replay as replay_event
from vani.providers.registry import all_providers
from vani.web.access import role_required
from vani.web.blueprint import bp


@bp.get("/events")
def events():
    filters = service.EventFilters.from_args(request.args)
    cursor = request.args.get("cursor") or None
    limit = current_app.config["VANI_DASHBOARD_PAGE_SIZE"]
    rows, next_cursor = service.list_events(filters, cursor, limit)
    if request.args.get("partial"):
        return render_template("events/_rows.html", rows=rows)
    return render_template(
        "events/list.html", rows=rows, next_cursor=next_cursor, cursor=cursor, filters=filters,
        providers=all_providers(), statuses=list(EventStatus), types=service.event_types(),
        urls=provider_urls() if not rows and not request.args else None)


@bp.get("/events/<int:event_id>")
def event_detail(event_id: int):
    detail = service.event_detail(event_id) or abort(404, f"There is no event {event_id}.")
    if request.args.get("partial"):
        return render_template("events/_summary.html", d=detail)
    return render_template("events/detail.html", d=detail)


@bp.post("/events/<int:event_id>/replay")
@role_required(Role.STAFF)
def replay(event_id: int):
    if service.event_detail(event_id) is None:
        abort(404, f"There is no event {event_id}.")
    result = replay_event(event_id)
    if result == "queued":
        flash(f"Event {event_id} queued for replay.", "success")
    else:
        flash(f"Event {event_id} replayed now (the queue is unreachable): {result}.", "success")
    return redirect(url_for("dash.event_detail", event_id=event_id))
