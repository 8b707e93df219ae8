"""Mailboxes: each one's connection state, last sync, watch expiry and last error; *Sync now*;
adding an IMAP mailbox (Gmail connects through Google: ``vani.providers.gmail.views``)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from vani.errors import VaniError
from vani.mail import mailboxes
from vani.models import Role
from vani.web.access import role_required
from vani.web.blueprint import bp


@bp.get("/mailboxes")
def mailboxes_page():
    return render_template("mailboxes.html", mailboxes=mailboxes.all_mailboxes(), form={})


@bp.post("/mailboxes/imap")
@role_required(Role.ADMIN)
def add_imap_mailbox():
    try:
        mailbox = mailboxes.add_imap(request.form)
    except VaniError as exc:
        flash(f"{exc.field}: {exc.detail}" if exc.field else exc.detail, "error")
        return render_template("mailboxes.html", mailboxes=mailboxes.all_mailboxes(),
                               form=request.form), exc.status
    flash(f"Mailbox {mailbox.address} saved; its first sync is on its way.", "success")
    return redirect(url_for("dash.mailboxes_page"), 303)


@bp.post("/mailboxes/<int:mailbox_id>/sync")
@role_required(Role.STAFF)
def sync_mailbox(mailbox_id: int):
    mailbox = mailboxes.get(mailbox_id)
    if mailboxes.request_sync(mailbox.id):
        flash(f"{mailbox.address}: sync queued.", "success")
    else:
        flash(f"{mailbox.address} is syncing right now; it syncs once more when done.", "info")
    return redirect(url_for("dash.mailboxes_page"), 303)


@bp.post("/mailboxes/<int:mailbox_id>/remove")
@role_required(Role.ADMIN)
def remove_mailbox(mailbox_id: int):
    mailbox = mailboxes.get(mailbox_id)
    address = mailbox.address
    try:
        mailboxes.remove(mailbox_id)
        flash(f"{address} removed; the mail already read stays on the prospects' timelines.", "success")
    except VaniError as exc:
        flash(exc.detail, "error")
    return redirect(url_for("dash.mailboxes_page"), 303)
