"""Prospects and meetings."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from vani.api.blueprint import bp
from vani.api.conversations import phone_arg
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.pagination import get_or_404, paginated_response, provider_arg
from vani.conversations import conversations_for_prospect
from vani.errors import InvalidField
from vani.models import Meeting, MeetingStatus, Prospect
from vani.payloads.coerce import as_email as normalize_email


@bp.get("/prospects")
@documented("List prospects", "prospects", {200: m.ProspectPage}, query=q.ProspectQuery)
def list_prospects():
    stmt = select(Prospect)
    if email := request.args.get("email"):
        stmt = stmt.where(Prospect.email == normalize_email(email))
    if phone := phone_arg():  # any common spelling, matched as E.164
        stmt = stmt.where(Prospect.phone == phone)
    return paginated_response(stmt, Prospect.created_at, Prospect.id)


@bp.get("/prospects/<int:prospect_id>")
@documented("Get a prospect with notes, meetings and conversations", "prospects", {200: m.ProspectDetail})
def get_prospect(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    data = prospect.to_dict()
    data["notes"] = [n.to_dict() for n in prospect.notes]
    data["meetings"] = [m.to_dict() for m in prospect.meetings]
    data["conversations"] = [c.to_dict() for c in conversations_for_prospect(prospect.id)]
    return jsonify(data)


@bp.get("/meetings")
@documented("List meetings", "prospects", {200: m.MeetingPage}, query=q.MeetingQuery)
def list_meetings():
    stmt = select(Meeting)
    if email := request.args.get("email"):
        stmt = stmt.join(Prospect, Meeting.prospect_id == Prospect.id).where(Prospect.email == normalize_email(email))
    if status := request.args.get("status"):
        if status not in set(MeetingStatus):
            raise InvalidField("status", f"must be one of {', '.join(MeetingStatus)}")
        stmt = stmt.where(Meeting.status == status)
    if provider := provider_arg():
        stmt = stmt.where(Meeting.provider == provider)
    return paginated_response(stmt, Meeting.created_at, Meeting.id)
