"""Invitations, for the invited: an account answers its own (accept or decline), someone new
signs up through the link; and the banner that tells a signed-in account it has some."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import DBAPIError

from vani.errors import VaniError
from vani.services import orgs
from vani.services.dashboard import invitations as service
from vani.web import bp
from vani.web.access import ORG_KEY
from vani.web.auth import start_session


@bp.app_context_processor
def invitation_context() -> dict:
    """How many invitations wait for the signed-in account (for the banner; none when the
    database cannot say, so an error page still renders)."""
    if not getattr(current_user, "is_authenticated", False):
        return {"pending_invitations": 0}
    try:
        return {"pending_invitations": service.count_mine(current_user)}
    except DBAPIError:
        return {"pending_invitations": 0}


@bp.get("/invitations")
def invitations():
    return render_template("invitations.html", invitations=service.mine(current_user))


def _joined(joined: service.Joined):
    session[ORG_KEY] = joined.org_id
    ref = orgs.refs().get(joined.org_id)
    flash(f"You joined {ref.name if ref else 'the organisation'} as {joined.role}; you are working there now.",
          "success")
    return redirect(url_for("dash.overview"), 303)


@bp.post("/invitations/<int:invitation_id>/accept")
def accept_invitation(invitation_id: int):
    return _joined(service.accept(invitation_id, current_user))


@bp.post("/invitations/<int:invitation_id>/decline")
def decline_invitation(invitation_id: int):
    service.decline(invitation_id, current_user)
    flash("Invitation declined.", "info")
    return redirect(url_for("dash.invitations"), 303)


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    """The invitation's link: someone new chooses a password, and is signed in as a member."""
    try:
        row = service.by_token(token)
    except VaniError as exc:
        return render_template("join.html", error=exc.detail), exc.status
    ref = orgs.refs().get(row.org_id)
    page = {"email": row.email, "role": str(row.role), "org_name": ref.name if ref else "an organisation"}
    if current_user.is_authenticated:
        if current_user.email.strip().lower() == page["email"]:
            return redirect(url_for("dash.invitations"))
        return render_template("join.html", **page, error=(
            f"This invitation is for {page['email']}; you are signed in as {current_user.email}. "
            "Sign out first to use it.")), 403
    if request.method == "GET":
        return render_template("join.html", **page)
    try:
        user, joined = service.sign_up(token, request.form.get("password", ""))
    except VaniError as exc:
        if exc.status == 404:  # used up meanwhile
            return render_template("join.html", error=exc.detail), exc.status
        return render_template("join.html", **page, error=exc.detail), exc.status
    start_session(user)
    return _joined(joined)
