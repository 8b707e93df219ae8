"""Prospects and meetings."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from vani.api import bp
from vani.api.pagination import BadRequest, get_or_404, keyset, limit_arg, page, provider_arg
from vani.api.conversations import phone_arg
from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Prospect
from vani.services.conversations import conversations_for_prospect
from vani.services.mapping import normalize_email


@bp.get("/prospects")
def list_prospects():
    stmt = select(Prospect)
    if email := request.args.get("email"):
        stmt = stmt.where(Prospect.email == normalize_email(email))
    if phone := phone_arg():  # any common spelling, matched as E.164
        stmt = stmt.where(Prospect.phone == phone)
    limit = limit_arg()
    stmt = keyset(stmt, Prospect.created_at, Prospect.id, request.args.get("cursor"), limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), limit, "created_at")
    return jsonify({"data": [p.to_dict() for p in rows], "next_cursor": cursor})


@bp.get("/prospects/<int:prospect_id>")
def get_prospect(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    data = prospect.to_dict()
    data["notes"] = [n.to_dict() for n in prospect.notes]
    data["meetings"] = [m.to_dict() for m in prospect.meetings]
    data["conversations"] = [c.to_dict() for c in conversations_for_prospect(prospect.id)]
    return jsonify(data)


@bp.get("/meetings")
def list_meetings():
    stmt = select(Meeting)
    if email := request.args.get("email"):
        stmt = stmt.join(Prospect, Meeting.prospect_id == Prospect.id).where(Prospect.email == normalize_email(email))
    if status := request.args.get("status"):
        if status not in MeetingStatus.ALL:
            raise BadRequest("status", f"must be one of {', '.join(MeetingStatus.ALL)}")
        stmt = stmt.where(Meeting.status == status)
    if provider := provider_arg():
        stmt = stmt.where(Meeting.provider == provider)
    limit = limit_arg()
    stmt = keyset(stmt, Meeting.created_at, Meeting.id, request.args.get("cursor"), limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), limit, "created_at")
    return jsonify({"data": [m.to_dict() for m in rows], "next_cursor": cursor})
