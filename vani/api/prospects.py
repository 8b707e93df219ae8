"""Prospects and meetings."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from vani.api.blueprint import bp
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.openapi.parsing import request_query
from vani.api.pagination import get_or_404, paginated_response
from vani.conversations import conversations_for_prospect
from vani.models import Meeting, Prospect
from vani.payloads.coerce import as_email as normalize_email
from vani.prospects import history


@bp.get("/prospects")
@documented("List prospects", "prospects", {200: m.ProspectPage}, query=q.ProspectQuery)
def list_prospects():
    query = request_query()
    stmt = select(Prospect)
    if query.email:
        stmt = stmt.where(Prospect.email == normalize_email(query.email))
    if query.phone:  # any common spelling, matched as E.164
        stmt = stmt.where(Prospect.phone == query.phone)
    return paginated_response(stmt, Prospect.created_at, Prospect.id, query)


@bp.get("/prospects/<int:prospect_id>")
@documented("Get a prospect with notes, meetings and conversations", "prospects", {200: m.ProspectDetail})
def get_prospect(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    data = prospect.to_dict()
    data["notes"] = [n.to_dict() for n in prospect.notes]
    data["meetings"] = [m.to_dict() for m in prospect.meetings]
    data["conversations"] = [c.to_dict() for c in conversations_for_prospect(prospect.id)]
    return jsonify(data)


@bp.get("/prospects/<int:prospect_id>/timeline")
@documented("A prospect's timeline", "prospects", {200: m.TimelinePage}, query=q.TimelineQuery,
            description="Notes, meetings, WhatsApp messages, emails, stage changes, leads and inbound events "
                        "of the prospect, newest first; each entry carries the field its kind names.")
def prospect_timeline(prospect_id: int):
    query = request_query()
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    entries, cursor = history.timeline(prospect.id, query.cursor, query.limit)
    return jsonify({"data": [entry.to_dict() for entry in entries], "next_cursor": cursor})


@bp.get("/meetings")
@documented("List meetings", "prospects", {200: m.MeetingPage}, query=q.MeetingQuery)
def list_meetings():
    query = request_query()
    stmt = select(Meeting)
    if query.email:
        stmt = stmt.join(Prospect, Meeting.prospect_id == Prospect.id).where(
            Prospect.email == normalize_email(query.email))
    if query.status:
        stmt = stmt.where(Meeting.status == query.status)
    if query.provider:
        stmt = stmt.where(Meeting.provider == query.provider)
    return paginated_response(stmt, Meeting.created_at, Meeting.id, query)
