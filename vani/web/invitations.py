"""Invitations, for the invited: everything happens on the page the link opens, where an account
signed in as the invited address accepts or declines and someone new signs up."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from vani import orgs
from vani.accounts import invitations as service
from vani.errors import VaniError
from vani.web.access import ORG_KEY
from vani.web.auth import start_session
from vani.web.blueprint import bp


@bp.get("/invitations")
def invitations():
    """Nothing is listed here: an invitation is answered only through its link."""
    return render_template("invitations.html")


def _joined(joined: service.Joined):
    session[ORG_KEY] = joined.org_id
    ref = orgs.refs().get(joined.org_id)
    flash(f"You joined {ref.name if ref else 'the organisation'} as {joined.role}; you are working there now.",
          "success")
    return redirect(url_for("dash.overview"), 303)


def _page(row) -> dict:
    ref = orgs.refs().get(row.org_id)
    return {"email": row.email, "role": str(row.role), "org_name": ref.name if ref else "an organisation"}


def _refused(exc: VaniError, page: dict | None = None):
    if exc.status == 404:  # used up, revoked or expired: nothing more to show
        page = None
    return render_template("join.html", **(page or {}), error=exc.detail), exc.status


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    """The invitation's link: signed in as the invited address, Accept or Decline; signed out,
    sign in, or (someone new) choose a password and be signed in as a member."""
    try:
        row = service.by_token(token)
    except VaniError as exc:
        return _refused(exc)
    page = _page(row)
    if current_user.is_authenticated:
        if current_user.email.strip().lower() == page["email"]:
            return render_template("join.html", **page, answer=True)
        return render_template("join.html", **page, error=(
            f"This invitation is for {page['email']}; you are signed in as {current_user.email}. "
            "Sign out first to use it.")), 403
    if request.method == "GET":
        return render_template("join.html", **page)
    try:
        user, joined = service.sign_up(token, request.form.get("password", ""))
    except VaniError as exc:
        return _refused(exc, page)
    start_session(user)
    return _joined(joined)


@bp.post("/join/<token>/accept")
def accept_invitation(token: str):
    try:
        return _joined(service.accept(token, current_user))
    except VaniError as exc:
        return _refused(exc)


@bp.post("/join/<token>/decline")
def decline_invitation(token: str):
    try:
        service.decline(token, current_user)
    except VaniError as exc:
        return _refused(exc)
    flash("Invitation declined.", "info")
    return redirect(url_for("dash.invitations"), 303)
