"""The organisation's members (admins only)."""
from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from vani.errors import VaniError
from vani.models import ROLES, User
from vani.services.dashboard import users as service
from vani.web import PASSWORD_STAMP_KEY, bp
from vani.web.access import role_required


def _user(user_id: int) -> User:
    return service.member(user_id)


def _users_page(form=None, status: int = 200):
    return render_template("users.html", users=service.list_members(), roles=ROLES, form=form or {}), status


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
@role_required("admin")
def users():
    return _users_page()


@bp.post("/users")
@role_required("admin")
def create_user():
    form = request.form

    def create() -> str:
        user = service.create_user(form.get("email", ""), form.get("password", ""), form.get("role", "viewer"))
        return f"Added {user.email} as {user.member_role}."

    return _change(create, form)


@bp.post("/users/<int:user_id>")
@role_required("admin")
def update_user(user_id: int):
    user = _user(user_id)
    role = request.form.get("role") or None
    active = {"1": True, "0": False}.get(request.form.get("active", ""), None)

    def update() -> str:
        service.update_user(user, current_user, role=role, active=active)
        return f"Updated {user.email}."

    return _change(update)


@bp.post("/users/<int:user_id>/remove")
@role_required("admin")
def remove_user(user_id: int):
    user = _user(user_id)

    def remove() -> str:
        service.remove_member(user, current_user)
        return f"Removed {user.email} from this organisation."

    return _change(remove)


@bp.post("/users/<int:user_id>/password")
@role_required("admin")
def reset_password(user_id: int):
    user = _user(user_id)

    def reset() -> str:
        service.reset_password(user, request.form.get("password", ""))
        if user.id == current_user.id:  # stay signed in here; other sessions of this user end
            session[PASSWORD_STAMP_KEY] = service.password_stamp(user)
        return f"Password changed for {user.email}."

    return _change(reset)
