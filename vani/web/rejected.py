"""Rejected webhook calls: what was refused and why."""
from __future__ import annotations

from flask import current_app, render_template, request

from vani import tenancy
from vani.dashboard.events import list_rejected
from vani.dashboard.filters import parse_choice
from vani.dashboard.urls import provider_urls
from vani.ingest import refusals
from vani.providers.registry import webhook_providers
from vani.web.blueprint import bp


@bp.get("/rejected")
def rejected():
    provider = parse_choice("provider", request.args.get("provider"), [p.name for p in webhook_providers()])
    cursor = request.args.get("cursor") or None
    rows, next_cursor = list_rejected(provider, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("rejected.html", rows=rows, next_cursor=next_cursor, cursor=cursor,
                           provider=provider, providers=webhook_providers(), urls=provider_urls(),
                           unrecorded=refusals.unrecorded(tenancy.require()),
                           per_minute=current_app.config["VANI_REJECTED_CALLS_PER_MINUTE"])
