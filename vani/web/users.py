"""The organisation's members and its invitations (admins only)."""
from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from vani.accounts import invitations
from vani.accounts import users as service
from vani.dashboard.urls import public_base
from vani.errors import VaniError
from vani.models import ROLES, Role, User
from vani.web.access import role_required
from vani.web.blueprint import PASSWORD_STAMP_KEY, bp


def _user(user_id: int) -> User:
    return service.member(user_id)


def _users_page(form=None, status: int = 200, sent=None):
    link = public_base() + url_for("dash.join", token=sent.token) if sent else None
    return render_template("users.html", users=service.list_members(), invitations=invitations.pending(),
                           roles=ROLES, form=form or {}, sent=sent and sent.invitation, link=link), status


def _change(action: Callable[[], str], form=None):
    """Run ``action``, which returns what to tell the admin. A refused change shows the page
    again with the reason (400); a done one flashes the message and goes back to the list."""
    try:
        message = action()
    except VaniError as exc:
        flash(exc.detail, "error")
        return _users_page(form, exc.status)
    flash(message, "success")
    return redirect(url_for("dash.users"))


@bp.get("/users")
@role_required(Role.ADMIN)
def users():
    return _users_page()


@bp.post("/invitations")
@role_required(Role.ADMIN)
def invite():
    """The same answer whether or not an account exists for the address: the link, shown once."""
    form = request.form
    try:
        sent = invitations.invite(form.get("email", ""), form.get("role", Role.VIEWER), current_user)
    except VaniError as exc:
        flash(exc.detail, "error")
        return _users_page(form, exc.status)
    flash(f"Invited {sent.invitation.email} as {sent.invitation.role}.", "success")
    return _users_page(sent=sent, status=201)


@bp.post("/invitations/<int:invitation_id>/revoke")
@role_required(Role.ADMIN)
def revoke_invitation(invitation_id: int):
    def revoke() -> str:
        row = invitations.revoke(invitation_id)
        return f"Invitation for {row.email} revoked: its link no longer works."

    return _change(revoke)


@bp.post("/users/<int:user_id>")
@role_required(Role.ADMIN)
def update_user(user_id: int):
    user = _user(user_id)
    role = request.form.get("role") or None
    active = {"1": True, "0": False}.get(request.form.get("active", ""), None)

    def update() -> str:
        service.update_user(user, current_user, role=role, active=active)
        return f"Updated {user.email}."

    return _change(update)


@bp.post("/users/<int:user_id>/remove")
@role_required(Role.ADMIN)
def remove_user(user_id: int):
    user = _user(user_id)

    def remove() -> str:
        service.remove_member(user, current_user)
        return f"Removed {user.email} from this organisation."

    return _change(remove)


@bp.post("/users/<int:user_id>/password")
@role_required(Role.ADMIN)
def reset_password(user_id: int):
    user = _user(user_id)

    def reset() -> str:
        service.reset_password(user, request.form.get("password", ""))
        if user.id == current_user.id:  # stay signed in here; other sessions of this user end
            session[PASSWORD_STAMP_KEY] = service.password_stamp(user)
        return f"Password changed for {user.email}."

    return _change(reset)
