"""WhatsApp conversations and team notifications."""
from __future__ import annotations

import uuid

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from vani import conversations as conv_service
from vani import notifications as notify_service
from vani.conversations import inbox, templates
from vani.dashboard import messaging
from vani.extensions import db
from vani.models import Notification, Role
from vani.web.access import back_to, role_required
from vani.web.blueprint import bp


@bp.get("/messages")
def conversations():
    q = (request.args.get("q") or "").strip() or None
    cursor = request.args.get("cursor") or None
    assigned = request.args.get("assigned") if request.args.get("assigned") in inbox.ASSIGNED else "all"
    rows, next_cursor = messaging.list_conversations(q, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"],
                                                     assigned=assigned, user_id=current_user.id)
    return render_template("conversations/list.html", rows=rows, q=q, cursor=cursor, next_cursor=next_cursor,
                           assigned=assigned, members=messaging.member_names(),
                           unread=messaging.unread_counts(c.id for c in rows),
                           prospects=messaging.prospects_by_id(c.prospect_id for c in rows))


@bp.get("/messages/<int:conversation_id>")
def conversation_detail(conversation_id: int):
    conv = conv_service.get_conversation(conversation_id) or abort(
        404, f"There is no conversation {conversation_id}.")
    partial = bool(request.args.get("partial"))
    if current_user.can(Role.STAFF):  # open on screen, a new message is read as it arrives
        inbox.mark_read(conv)
    thread = messaging.thread(conv)
    if partial:
        return render_template("conversations/_thread.html", c=conv, **thread)
    offered, unlisted = templates.offer(conv.provider) if current_user.can(Role.STAFF) else (None, None)
    return render_template("conversations/detail.html", c=conv, nonce=uuid.uuid4().hex, **thread,
                           members=messaging.member_names(), templates=offered, templates_unlisted=unlisted,
                           choice_value=templates.choice_value, start_errors={}, form={},
                           prospect=messaging.prospects_by_id([conv.prospect_id]).get(conv.prospect_id))


@bp.app_context_processor
def unread_context() -> dict:
    """``nav_unread()``: the navigation's unread count, counted only when a page draws it."""
    return {"nav_unread": messaging.unread_total}


@bp.get("/messages/unread")
def unread_badge():
    """The navigation's unread count, drawn again live."""
    return render_template("conversations/_unread.html", unread_total=messaging.unread_total())


@bp.get("/notifications")
def notifications():
    cursor = request.args.get("cursor") or None
    rows, next_cursor = messaging.list_notifications(request.args, cursor,
                                                     current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    template = "notifications/_rows.html" if request.args.get("partial") else "notifications/list.html"
    return render_template(
        template, rows=rows, cursor=cursor, next_cursor=next_cursor, statuses=messaging.NOTIFICATION_STATUSES,
        sends=notify_service.sends_for([n.id for n in rows]),
        prospects=messaging.prospects_by_id(n.prospect_id for n in rows),
        meetings=messaging.meetings_by_id(n.meeting_id for n in rows))


@bp.post("/notifications/<int:notification_id>/retry")
@role_required(Role.STAFF)
def retry_notification(notification_id: int):
    if db.session.get(Notification, notification_id) is None:
        abort(404, f"There is no notification {notification_id}.")
    try:
        ids = notify_service.retry_notification(notification_id, request.form.get("channel") or None)
        flash(f"Notification {notification_id}: {len(ids)} channel{'s' if len(ids) != 1 else ''} queued again.",
              "success")
    except (LookupError, ValueError) as exc:
        flash(f"Notification {notification_id}: {exc}", "error")
    return redirect(back_to(url_for("dash.notifications")), 303)
