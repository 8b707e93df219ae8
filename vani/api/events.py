"""GET /api/v1/events and /api/v1/events/<id>."""
from __future__ import annotations

from flask import abort, jsonify, request
from sqlalchemy import select

from vani.api import bp
from vani.api.pagination import BadRequest, keyset, limit_arg, page
from vani.extensions import db
from vani.models import EventStatus, WebhookEvent


@bp.errorhandler(BadRequest)
def bad_request(exc: BadRequest):
    return jsonify({"error": "invalid_parameter", "field": exc.field, "detail": exc.reason}), 400


@bp.get("/events")
def list_events():
    stmt = select(WebhookEvent).options()
    if provider := request.args.get("provider"):
        stmt = stmt.where(WebhookEvent.provider == provider)
    if status := request.args.get("status"):
        if status not in EventStatus.ALL:
            raise BadRequest("status", f"must be one of {', '.join(EventStatus.ALL)}")
        stmt = stmt.where(WebhookEvent.status == status)
    if type_ := request.args.get("type"):
        stmt = stmt.where(WebhookEvent.event_type == type_)
    limit = limit_arg()
    stmt = keyset(stmt, WebhookEvent.received_at, WebhookEvent.id, request.args.get("cursor"), limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), limit, "received_at")
    return jsonify({"data": [e.to_dict() for e in rows], "next_cursor": cursor})


@bp.get("/events/<int:event_id>")
def get_event(event_id: int):
    event = db.session.get(WebhookEvent, event_id) or abort(404, f"no event {event_id}")
    return jsonify(event.to_dict(full=True))
