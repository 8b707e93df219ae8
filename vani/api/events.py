"""GET /api/v1/events and /api/v1/events/<id>."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.blueprint import bp
from vani.errors import InvalidField
from vani.api.pagination import get_or_404, provider_arg, paginated_response
from vani.models import EventStatus, WebhookEvent
from vani.payloads.coerce import as_email as normalize_email


@bp.get("/events")
@documented("List events", "events", {200: m.EventPage}, query=q.EventQuery)
def list_events():
    stmt = select(WebhookEvent)
    if provider := provider_arg():
        stmt = stmt.where(WebhookEvent.provider == provider)
    if status := request.args.get("status"):
        if status not in set(EventStatus):
            raise InvalidField("status", f"must be one of {', '.join(EventStatus)}")
        stmt = stmt.where(WebhookEvent.status == status)
    if type_ := request.args.get("type"):
        stmt = stmt.where(WebhookEvent.event_type == type_)
    if email := request.args.get("email"):
        stmt = stmt.where(WebhookEvent.subject_email == normalize_email(email))
    return paginated_response(stmt, WebhookEvent.received_at, WebhookEvent.id)


@bp.get("/events/<int:event_id>")
@documented("Get an event, with its payload and headers", "events", {200: m.EventDetail})
def get_event(event_id: int):
    event = get_or_404(WebhookEvent, event_id, "event")
    return jsonify(event.to_dict(full=True))
