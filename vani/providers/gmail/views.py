"""Connecting a Gmail mailbox through Google's sign-in, and disconnecting it (the mailboxes page
lists them: ``vani.web.mailboxes``)."""
from __future__ import annotations

from flask import flash, redirect, url_for

from vani.errors import VaniError
from vani.mail import mailboxes
from vani.mail.mailboxes import SyncError
from vani.models import Role
from vani.providers.gmail import connect
from vani.providers.gmail.connect import CONNECTOR
from vani.web import connecting
from vani.web.access import role_required
from vani.web.blueprint import bp


def _back():
    return redirect(url_for("dash.mailboxes_page"), 303)


@bp.get("/mailboxes/gmail/connect")
@role_required(Role.ADMIN)
def gmail_connect():
    return connecting.begin(CONNECTOR, "GOOGLE_REDIRECT_URI", "dash.gmail_callback", _back)


@bp.get("/mailboxes/gmail/callback")
@role_required(Role.ADMIN)
def gmail_callback():
    return connecting.finish(CONNECTOR, _back, SyncError)


@bp.post("/mailboxes/<int:mailbox_id>/gmail/disconnect")
@role_required(Role.ADMIN)
def gmail_disconnect(mailbox_id: int):
    mailbox = mailboxes.get(mailbox_id)  # 404 when it is not this organisation's
    try:
        connecting.flash_report(connect.disconnect(mailbox))
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back()
