"""Answering on WhatsApp from the dashboard: the reply box, retries, assignment, auto-reply rules."""
from __future__ import annotations

import re
import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from vani import orgs
from vani.conversations import inbox, rules, templates
from vani.errors import VaniError
from vani.models import Role
from vani.web.access import role_required
from vani.web.blueprint import bp

NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _back(conversation_id: int):
    return redirect(url_for("dash.conversation_detail", conversation_id=conversation_id), 303)


def _payload(form) -> dict:
    if form.get("kind") == "template" and form.get("template_choice") is not None:  # picked from the list
        return templates.chosen(form["template_choice"], form.getlist("template_variable"))
    if form.get("kind") == "template":
        raw = form.get("template_variables") or ""
        variables = [v.strip() for v in raw.split("|")] if raw.strip() else []
        return {"template": {"name": form.get("template_name") or "", "language": form.get("template_language") or "en",
                             "variables": variables}}
    return {"text": form.get("text") or ""}


@bp.post("/messages/<int:conversation_id>/reply")
@role_required(Role.STAFF)
def reply(conversation_id: int):
    conv = inbox.get(conversation_id)
    nonce = request.form.get("nonce") or ""
    key = nonce if NONCE.match(nonce) else uuid.uuid4().hex  # the form's nonce: a double submit sends once
    try:
        message, created = inbox.reply(conv, _payload(request.form), inbox.intent("dash", key), origin="dashboard",
                                       user_id=current_user.id)
        flash("Reply queued." if created else "That reply was already sent.", "success")
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back(conversation_id)


@bp.post("/messages/<int:conversation_id>/messages/<int:message_id>/retry")
@role_required(Role.STAFF)
def retry_reply(conversation_id: int, message_id: int):
    try:
        inbox.retry(inbox.get(conversation_id), message_id)
        flash(f"Message {message_id} queued again.", "success")
    except VaniError as exc:
        if exc.status == 404:
            abort(404, exc.detail)
        flash(exc.detail, "error")
    return _back(conversation_id)


@bp.post("/messages/<int:conversation_id>/assign")
@role_required(Role.STAFF)
def assign(conversation_id: int):
    conv = inbox.get(conversation_id)
    choice = (request.form.get("assignee") or "").strip()
    number = choice.isascii() and choice.isdecimal() and len(choice) < 18
    user_id = current_user.id if choice == "me" else int(choice) if number else None
    try:
        inbox.assign(conv, user_id)
        flash("Conversation assigned." if user_id else "Conversation unassigned.", "success")
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back(conversation_id)


# -- auto-reply rules ------------------------------------------------------------------------
def _rule_form(form) -> dict:
    body: dict = {"name": form.get("name") or "", "trigger": form.get("trigger") or "",
                  "active": form.get("active") == "on"}
    if form.get("match"):
        body["match"] = form["match"]
    if form.get("trigger") == "outside_hours":
        days = form.getlist("days") or []
        span = f"{form.get('opens') or '09:00'}-{form.get('closes') or '17:00'}"
        body["hours"] = {day: [span] for day in days}
    if form.get("template_name"):
        raw = form.get("template_variables") or ""
        body["template"] = {"name": form["template_name"], "language": form.get("template_language") or "en",
                            "variables": [v.strip() for v in raw.split("|")] if raw.strip() else []}
    else:
        body["reply_text"] = form.get("reply_text") or ""
    return body


@bp.get("/autoreplies")
def autoreplies():
    return render_template("autoreplies.html", rules=rules.all_rules(), triggers=rules.RuleTrigger,
                           days=rules.DAYS, org=orgs.in_force())


@bp.post("/autoreplies")
@role_required(Role.ADMIN)
def create_autoreply():
    try:
        rule = rules.create(_rule_form(request.form))
        flash(f"Rule “{rule.name}” saved.", "success")
    except VaniError as exc:
        flash(f"{exc.field}: {exc.detail}" if exc.field else exc.detail, "error")
    return redirect(url_for("dash.autoreplies"), 303)


@bp.post("/autoreplies/<int:rule_id>/change")
@role_required(Role.ADMIN)
def change_autoreply(rule_id: int):
    rule = rules.get(rule_id)
    action = request.form.get("action")
    if action not in ("toggle", "delete", "up", "down"):
        flash("Choose toggle, delete, up or down.", "error")
    elif action == "toggle":
        rules.update(rule_id, {"active": not rule.active})
    elif action == "delete":
        rules.delete(rule_id)
    else:
        rules.move(rule_id, -1 if action == "up" else 1)
    if action in ("toggle", "delete", "up", "down"):
        flash(f"Rule “{rule.name}” {'deleted' if action == 'delete' else 'updated'}.", "success")
    return redirect(url_for("dash.autoreplies"), 303)
