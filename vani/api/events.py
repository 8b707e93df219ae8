"""GET /api/v1/events and /api/v1/events/<id>."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from vani.api import bp
from vani.api.pagination import BadRequest, get_or_404, provider_arg, paginated_response
from vani.models import EventStatus, WebhookEvent
from vani.services.mapping import normalize_email


@bp.errorhandler(BadRequest)
def bad_request(exc: BadRequest):
    return jsonify({"error": "invalid_parameter", "field": exc.field, "detail": exc.reason}), 400


@bp.get("/events")
def list_events():
    stmt = select(WebhookEvent)
    if provider := provider_arg():
        stmt = stmt.where(WebhookEvent.provider == provider)
    if status := request.args.get("status"):
        if status not in EventStatus.ALL:
            raise BadRequest("status", f"must be one of {', '.join(EventStatus.ALL)}")
        stmt = stmt.where(WebhookEvent.status == status)
    if type_ := request.args.get("type"):
        stmt = stmt.where(WebhookEvent.event_type == type_)
    if email := request.args.get("email"):
        stmt = stmt.where(WebhookEvent.subject_email == normalize_email(email))
    return paginated_response(stmt, WebhookEvent.received_at, WebhookEvent.id)


@bp.get("/events/<int:event_id>")
def get_event(event_id: int):
    event = get_or_404(WebhookEvent, event_id, "event")
    return jsonify(event.to_dict(full=True))
