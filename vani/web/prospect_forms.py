"""Changing prospects in the dashboard (staff and up): the new and edit forms, notes, the owner,
the stage and a first WhatsApp template, picked from the organisation's approved ones (typed by
name when the list cannot be had). A refused value is shown next to its field, on the page
again with what was typed."""
from __future__ import annotations

import re
import uuid

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from vani.conversations import inbox, starting, templates
from vani.dashboard import messaging, people
from vani.errors import VaniError
from vani.extensions import db
from vani.models import Prospect, ProspectStage, Role
from vani.prospects import editing
from vani.web.access import role_required
from vani.web.blueprint import bp

FIELDS = ("name", "email", "phone", "timezone")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def actor() -> editing.Actor:
    return editing.Actor(name=current_user.email, source="dashboard", user_id=current_user.id)


def _prospect(prospect_id: int) -> Prospect:
    return db.session.get(Prospect, prospect_id) or abort(404, f"There is no prospect {prospect_id}.")


def _owner(value: str | None):
    """The owner select's value: "" for nobody, a member's id, else the text (refused by the check)."""
    value = (value or "").strip()
    if not value:
        return None
    return int(value) if value.isascii() and value.isdecimal() and len(value) < 19 else value


def _fields(form) -> dict:
    fields = {name: form.get(name, "") for name in FIELDS if name in form}
    if "owner_id" in form:
        fields["owner_id"] = _owner(form.get("owner_id"))
    return fields


def _refused(exc: VaniError) -> dict:
    return getattr(exc, "fields", None) or {exc.field if exc.field else "_": exc.detail}


def _key(prefix: str) -> str:
    """The form's nonce as an intent: a double submit does it once."""
    nonce = request.form.get("nonce") or ""
    return inbox.intent(prefix, nonce if NONCE.match(nonce) else uuid.uuid4().hex)


def _offer(can_start: bool) -> tuple[list | None, str | None]:
    """The approved templates to pick from, or why they cannot be listed (the name is typed then)."""
    if not can_start or not current_user.can(Role.STAFF):
        return None, None
    return templates.offer()


def detail(prospect: Prospect, errors: dict | None = None, status: int = 200):
    """The prospect's page; ``errors`` as {form: {field: reason}}, shown beside the fields."""
    cursor = request.args.get("cursor") or None
    items, next_cursor = people.timeline_page(prospect.id, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    can_start = people.can_start_conversation(prospect)
    offered, unlisted = _offer(can_start)
    return render_template("prospects/detail.html", p=prospect, items=items, cursor=cursor, next_cursor=next_cursor,
                           members=messaging.member_names(), errors=errors or {}, form=request.form,
                           stages=list(ProspectStage), nonce=uuid.uuid4().hex, can_start=can_start,
                           templates=offered, templates_unlisted=unlisted,
                           choice_value=templates.choice_value), status


def _form_page(prospect: Prospect | None, form, errors: dict | None = None, status: int = 200):
    return render_template("prospects/form.html", p=prospect, form=form, errors=errors or {},
                           members=messaging.member_names()), status


@bp.get("/prospects/new")
@role_required(Role.STAFF)
def new_prospect():
    return _form_page(None, {})


@bp.post("/prospects/new")
@role_required(Role.STAFF)
def create_prospect():
    try:
        prospect = editing.create(_fields(request.form), actor())
    except VaniError as exc:
        return _form_page(None, request.form, _refused(exc), exc.status)
    flash("Prospect created.", "success")
    return redirect(url_for("dash.prospect_detail", prospect_id=prospect.id), 303)


@bp.get("/prospects/<int:prospect_id>/edit")
@role_required(Role.STAFF)
def edit_prospect_form(prospect_id: int):
    p = _prospect(prospect_id)
    return _form_page(p, {**{name: getattr(p, name) or "" for name in FIELDS}, "owner_id": p.owner_id or ""})


@bp.post("/prospects/<int:prospect_id>/edit")
@role_required(Role.STAFF)
def edit_prospect(prospect_id: int):
    p = _prospect(prospect_id)
    try:
        editing.update(p, _fields(request.form), actor())
    except VaniError as exc:
        db.session.rollback()
        return _form_page(_prospect(prospect_id), request.form, _refused(exc), exc.status)
    flash("Prospect saved.", "success")
    return redirect(url_for("dash.prospect_detail", prospect_id=prospect_id), 303)


def _act(prospect_id: int, form_name: str, change):
    """Run ``change`` on the prospect (it says what it did): back to its page, or the page again
    with the refusal beside the field."""
    p = _prospect(prospect_id)
    try:
        message = change(p)
    except VaniError as exc:
        db.session.rollback()
        return detail(_prospect(prospect_id), {form_name: _refused(exc)}, exc.status)
    flash(message, "success")
    return redirect(url_for("dash.prospect_detail", prospect_id=prospect_id), 303)


@bp.post("/prospects/<int:prospect_id>/owner")
@role_required(Role.STAFF)
def set_prospect_owner(prospect_id: int):
    choice = request.form.get("owner_id", request.form.get("owner"))
    owner = current_user.id if choice == "me" else _owner(choice)

    def change(p: Prospect):
        editing.update(p, {"owner_id": owner}, actor())
        return f"Owner set to {p.owner_email or 'nobody'}."

    return _act(prospect_id, "owner", change)


@bp.post("/prospects/<int:prospect_id>/notes")
@role_required(Role.STAFF)
def add_prospect_note(prospect_id: int):
    def change(p: Prospect):
        _, created = editing.add_note(p, request.form.get("body", ""), actor(), key=_key("dash-note"))
        return "Note added." if created else "That note was already added."

    return _act(prospect_id, "note", change)


@bp.post("/prospects/<int:prospect_id>/stage")
@role_required(Role.STAFF)
def move_prospect_stage(prospect_id: int):
    def change(p: Prospect):
        moved = editing.move_stage(p, request.form.get("stage", ""), request.form.get("reason") or None, actor())
        return f"Stage moved to {p.stage}." if moved else f"The prospect is already {p.stage}."

    return _act(prospect_id, "stage", change)


def _template(form) -> dict:
    if form.get("template_choice") is not None:  # picked from the approved list
        return templates.chosen(form["template_choice"], form.getlist("template_variable"))
    raw = form.get("template_variables") or ""
    variables = [v.strip() for v in raw.split("|")] if raw.strip() else []
    return {"template": {"name": form.get("template_name") or "", "language": form.get("template_language") or "en",
                         "variables": variables}}


@bp.post("/prospects/<int:prospect_id>/conversations")
@role_required(Role.STAFF)
def start_prospect_conversation(prospect_id: int):
    def change(p: Prospect):
        _, _, created = starting.start(p, _template(request.form), _key("dash-start"), origin="dashboard",
                                          user_id=current_user.id)
        return "Template queued: the conversation has started." if created else "That template was already sent."

    return _act(prospect_id, "start", change)
