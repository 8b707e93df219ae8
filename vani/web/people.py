"""Prospects (list, timeline) and meetings (list)."""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Prospect
from vani.services.dashboard import people
from vani.web import bp


@bp.get("/prospects")
def prospects():
    q = (request.args.get("q") or "").strip() or None
    cursor = request.args.get("cursor") or None
    rows, next_cursor = people.list_prospects(q, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("prospects/list.html", rows=rows, q=q, cursor=cursor, next_cursor=next_cursor)


@bp.get("/prospects/<int:prospect_id>")
def prospect_detail(prospect_id: int):
    prospect = db.session.get(Prospect, prospect_id) or abort(404, f"There is no prospect {prospect_id}.")
    return render_template("prospects/detail.html", p=prospect, items=people.timeline(prospect))


@bp.get("/meetings")
def meetings():
    cursor = request.args.get("cursor") or None
    rows, next_cursor = people.list_meetings(request.args, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("meetings.html", rows=rows, cursor=cursor, next_cursor=next_cursor,
                           statuses=list(MeetingStatus))


@bp.get("/meetings/<int:meeting_id>")
def meeting_detail(meeting_id: int):
    meeting = db.session.get(Meeting, meeting_id) or abort(404, f"There is no meeting {meeting_id}.")
    return render_template("meeting.html", m=meeting, **people.meeting_context(meeting))
