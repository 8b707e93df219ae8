"""The event log's pages: the overview (activity per provider, rejections, deliveries, events per
hour), inbound events (filtered list, detail, replay), rejected calls, and ``/dashboard/stream``
(Server-Sent Events for live updates)."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from vani import tenancy
from vani.dashboard import events as service
from vani.dashboard import activity, live
from vani.dashboard import overview as stats
from vani.dashboard.chart import delivery_chart, duration, duration_chart, events_chart, funnel_chart
from vani.dashboard.deliveries import delivery_summary
from vani.dashboard.events import list_rejected
from vani.dashboard.filters import parse_choice
from vani.dashboard.stream import sse_stream
from vani.dashboard.urls import provider_urls
from vani.extensions import redis_ext
from vani.ingest import refusals
from vani.models import EventStatus, Role
from vani.processing.events import replay as replay_event
from vani.providers.registry import all_providers, webhook_providers
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


@bp.get("/")
def overview():
    snap = stats.snapshot(48)  # the rollups every number below comes from, read once
    figures, hours = activity.figures(48, snap=snap), stats.hourly_buckets(48, snap=snap)
    context = dict(
        providers=stats.provider_stats(snap=snap),
        chart=events_chart(hours), chart_hours=hours,
        deliveries=delivery_summary(snap=snap),
        dead=stats.dead_letters(),
        urls=provider_urls(),
        figures=figures,
        charts={"deliveries": delivery_chart(figures.deliveries),
                "latency": duration_chart(figures.latency, "Delivery latency"),
                "lag": duration_chart(figures.lag, "Processing lag"),
                "funnel": funnel_chart(figures.funnel)},
        duration=duration,
    )
    template = "overview/_live.html" if request.args.get("partial") else "overview/page.html"
    return render_template(template, **context)


@bp.get("/rejected")
def rejected():
    provider = parse_choice("provider", request.args.get("provider"), [p.name for p in webhook_providers()])
    cursor = request.args.get("cursor") or None
    rows, next_cursor = list_rejected(provider, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("rejected.html", rows=rows, next_cursor=next_cursor, cursor=cursor,
                           provider=provider, providers=webhook_providers(), urls=provider_urls(),
                           unrecorded=refusals.unrecorded(tenancy.require()),
                           per_minute=current_app.config["VANI_REJECTED_CALLS_PER_MINUTE"])


@bp.get("/stream")
def stream():
    client = redis_ext.client if redis_ext.available() else None
    max_seconds = current_app.config["VANI_SSE_MAX_SECONDS"]
    channel = live.channel(tenancy.require())  # this organisation's updates only
    response = Response(sse_stream(client, channel, max_seconds=max_seconds), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
