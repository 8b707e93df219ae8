"""API tokens (admins only): list with scopes, last use and expiry; create (shown once); revoke."""
from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for

from vani.errors import VaniError
from vani.models import Role, Scope
from vani.models.base import utcnow
from vani.accounts import tokens as service
from vani.web.blueprint import bp
from vani.web.access import role_required


def _page(form=None, created=None, status: int = 200):
    return render_template("tokens.html", tokens=service.list_tokens(), scopes=list(Scope), form=form or {},
                           created=created, now=utcnow()), status


@bp.get("/tokens")
@role_required(Role.ADMIN)
def tokens():
    return _page()


@bp.post("/tokens")
@role_required(Role.ADMIN)
def create_token():
    form = request.form
    days = form.get("expires_in_days", "").strip()
    try:
        if days and (not days.isascii() or not days.isdigit() or not 1 <= int(days) <= 3650):
            raise VaniError("expires in: give a number of days from 1 to 3650, or leave it empty")
        expires = utcnow() + timedelta(days=int(days)) if days else None
        row, token = service.create_token(form.get("name", ""), form.getlist("scopes"), expires)
    except VaniError as exc:
        flash(exc.detail, "error")
        return _page(form, status=400)
    return _page(created=(row, token), status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@role_required(Role.ADMIN)
def revoke_token(token_id: int):
    row = service.revoke_token(token_id)
    flash(f"Token {row.name} ({row.prefix}…) revoked: it no longer works.", "success")
    return redirect(url_for("dash.tokens"), 303)
