"""Rejected webhook calls: what was refused and why."""
from __future__ import annotations

from flask import current_app, render_template, request
from sqlalchemy import select

from vani.api.pagination import keyset, page
from vani.extensions import db
from vani.models import RejectedCall
from vani.providers.registry import all_providers
from vani.services.dashboard.filters import parse_choice
from vani.services.dashboard.urls import provider_urls
from vani.web import bp


@bp.get("/rejected")
def rejected():
    provider = parse_choice("provider", request.args.get("provider"), [p.name for p in all_providers()])
    stmt = select(RejectedCall)
    if provider:
        stmt = stmt.where(RejectedCall.provider == provider)
    limit = current_app.config["VANI_DASHBOARD_PAGE_SIZE"]
    cursor = request.args.get("cursor") or None
    stmt = keyset(stmt, RejectedCall.created_at, RejectedCall.id, cursor, limit)
    rows, next_cursor = page(list(db.session.execute(stmt).scalars()), limit, "created_at")
    return render_template("rejected.html", rows=rows, next_cursor=next_cursor, cursor=cursor,
                           provider=provider, providers=all_providers(), urls=provider_urls())
