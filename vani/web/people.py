"""Prospects (list, timeline) and meetings (list)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from vani.dashboard import messaging, people
from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Prospect, ProspectStage, Role
from vani.web.access import role_required
from vani.web.blueprint import bp


def owner_filter() -> str:
    """``?owner=``: mine, none or any; staff see their own by default."""
    chosen = request.args.get("owner")
    if chosen in people.OWNER_CHOICES:
        return chosen
    return "mine" if current_user.role == Role.STAFF else "any"


@bp.get("/prospects")
def prospects():
    q = (request.args.get("q") or "").strip() or None
    cursor = request.args.get("cursor") or None
    owner = owner_filter()
    rows, next_cursor = people.list_prospects(
        q, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"], stage=request.args.get("stage") or None,
        source=request.args.get("source") or None, owner=owner, user_id=current_user.id)
    return render_template("prospects/list.html", rows=rows, q=q, cursor=cursor, next_cursor=next_cursor,
                           owner=owner, stages=list(ProspectStage), sources=people.sources(),
                           members=messaging.member_names())


@bp.get("/prospects/<int:prospect_id>")
def prospect_detail(prospect_id: int):
    prospect = db.session.get(Prospect, prospect_id) or abort(404, f"There is no prospect {prospect_id}.")
    cursor = request.args.get("cursor") or None
    items, next_cursor = people.timeline_page(prospect.id, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("prospects/detail.html", p=prospect, items=items, cursor=cursor, next_cursor=next_cursor,
                           members=messaging.member_names())


@bp.post("/prospects/<int:prospect_id>/owner")
@role_required(Role.STAFF)
def set_prospect_owner(prospect_id: int):
    prospect = db.session.get(Prospect, prospect_id) or abort(404, f"There is no prospect {prospect_id}.")
    choice = (request.form.get("owner") or "").strip()
    members = messaging.member_names()
    if choice == "me":
        choice = str(current_user.id)
    if choice and not (choice.isascii() and choice.isdecimal() and int(choice) in members):
        flash("Choose a member of this organisation.", "error")
    else:
        prospect.owner_id = int(choice) if choice else None
        prospect.owner_email = members.get(prospect.owner_id) if prospect.owner_id else None
        prospect.owner_set_by_hand = True
        db.session.commit()
        flash(f"Owner set to {prospect.owner_email or 'nobody'}.", "success")
    return redirect(url_for("dash.prospect_detail", prospect_id=prospect_id), 303)


@bp.get("/meetings")
def meetings():
    cursor = request.args.get("cursor") or None
    owner = owner_filter()
    args = {**request.args.to_dict(), "owner": owner, "user_id": current_user.id}
    rows, next_cursor = people.list_meetings(args, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    return render_template("meetings.html", rows=rows, cursor=cursor, next_cursor=next_cursor,
                           statuses=list(MeetingStatus), owner=owner)


@bp.get("/meetings/<int:meeting_id>")
def meeting_detail(meeting_id: int):
    meeting = db.session.get(Meeting, meeting_id) or abort(404, f"There is no meeting {meeting_id}.")
    return render_template("meeting.html", m=meeting, **people.meeting_context(meeting))
