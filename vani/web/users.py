"""User management (admins only)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from vani.extensions import db
from vani.models import ROLES, User
from vani.services.dashboard import users as service
from vani.web import bp
from vani.web.access import role_required


def _user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404, f"There is no user {user_id}.")


def _refuse(exc: Exception, form=None):
    """Show the users page again with the reason (400)."""
    flash(str(exc), "error")
    return render_template("users.html", users=service.list_users(), roles=ROLES, form=form or {}), 400


@bp.get("/users")
@role_required("admin")
def users():
    return render_template("users.html", users=service.list_users(), roles=ROLES)


@bp.post("/users")
@role_required("admin")
def create_user():
    form = request.form
    try:
        user = service.create_user(form.get("email", ""), form.get("password", ""), form.get("role", "viewer"))
    except service.UserError as exc:
        return _refuse(exc, form)
    flash(f"Created {user.role} {user.email}.", "success")
    return redirect(url_for("dash.users"))


@bp.post("/users/<int:user_id>")
@role_required("admin")
def update_user(user_id: int):
    user = _user(user_id)
    role = request.form.get("role") or None
    active = {"1": True, "0": False}.get(request.form.get("active", ""), None)
    try:
        service.update_user(user, current_user, role=role, active=active)
    except service.UserError as exc:
        return _refuse(exc)
    flash(f"Updated {user.email}.", "success")
    return redirect(url_for("dash.users"))


@bp.post("/users/<int:user_id>/password")
@role_required("admin")
def reset_password(user_id: int):
    user = _user(user_id)
    try:
        service.reset_password(user, request.form.get("password", ""))
    except service.UserError as exc:
        return _refuse(exc)
    flash(f"Password changed for {user.email}.", "success")
    return redirect(url_for("dash.users"))
