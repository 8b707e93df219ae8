"""GET /api/v1/events and /api/v1/events/<id>."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from vani.api.blueprint import bp
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.openapi.parsing import request_query
from vani.api.pagination import get_or_404, paginated_response
from vani.models import WebhookEvent
from vani.payloads.coerce import as_email as normalize_email


@bp.get("/events")
@documented("List events", "events", {200: m.EventPage}, query=q.EventQuery)
def list_events():
    query = request_query()
    stmt = select(WebhookEvent)
    if query.provider:
        stmt = stmt.where(WebhookEvent.provider == query.provider)
    if query.status:
        stmt = stmt.where(WebhookEvent.status == query.status)
    if query.type:
        stmt = stmt.where(WebhookEvent.event_type == query.type)
    if query.email:
        stmt = stmt.where(WebhookEvent.subject_email == normalize_email(query.email))
    return paginated_response(stmt, WebhookEvent.received_at, WebhookEvent.id, query)


@bp.get("/events/<int:event_id>")
@documented("Get an event, with its payload and headers", "events", {200: m.EventDetail})
def get_event(event_id: int):
    event = get_or_404(WebhookEvent, event_id, "event")
    return jsonify(event.to_dict(full=True))
