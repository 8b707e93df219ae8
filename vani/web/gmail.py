"""Connecting a Gmail mailbox through Google's sign-in, and disconnecting it (the mailboxes page
lists them: ``vani.web.mailboxes``)."""
from __future__ import annotations

from flask import current_app, flash, redirect, request, session, url_for

from vani.dashboard.urls import public_base
from vani.errors import VaniError
from vani.mail import mailboxes
from vani.mail.mailboxes import SyncError
from vani.models import Role
from vani.providers.gmail import connect as gmail_oauth
from vani.web.access import role_required
from vani.web.blueprint import bp

PENDING_KEY = "gmail_oauth"  # session key: the sign-in started, until Google's redirect


def _back():
    return redirect(url_for("dash.mailboxes_page"), 303)


def _flash_report(report: gmail_oauth.Report) -> None:
    if report.done:
        flash(f"{report.mailbox}: " + "; ".join(report.done) + ".", "success")
    if report.failed:
        flash("Not done: " + "; ".join(report.failed) + ".", "error")


@bp.get("/mailboxes/gmail/connect")
@role_required(Role.ADMIN)
def gmail_connect():
    redirect_uri = current_app.config.get("GOOGLE_REDIRECT_URI") or public_base() + url_for("dash.gmail_callback")
    try:
        url, pending = gmail_oauth.start(redirect_uri)
    except VaniError as exc:
        flash(str(exc), "error")
        return _back()
    session[PENDING_KEY] = pending
    return redirect(url, 302)


@bp.get("/mailboxes/gmail/callback")
@role_required(Role.ADMIN)
def gmail_callback():
    pending = session.pop(PENDING_KEY, None)  # one use, whatever the outcome
    try:
        report = gmail_oauth.connect(pending, request.args)
    except SyncError as exc:
        flash(f"Connecting Gmail did not finish: {exc.message}", "error")
        return _back()
    _flash_report(report)
    return _back()


@bp.post("/mailboxes/<int:mailbox_id>/gmail/disconnect")
@role_required(Role.ADMIN)
def gmail_disconnect(mailbox_id: int):
    mailbox = mailboxes.get(mailbox_id)  # 404 when it is not this organisation's
    try:
        _flash_report(gmail_oauth.disconnect(mailbox))
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back()
