"""Connecting a Gmail mailbox to the organisation in force, and disconnecting it.

Connecting is ``vani.plugins.oauth``'s flow with Google's OAuth client (``gmail_api.GoogleOAuth``:
read-only Gmail scope, offline access). Once the code is exchanged, the connector reads the
address (``users.getProfile``), stores the tokens encrypted on the mailbox and starts the push
(``users.watch``).
Disconnecting stops the push, revokes the grant (both best effort) and deletes the mailbox.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from vani import tenancy
from vani.errors import Conflict, VaniError
from vani.extensions import db
from vani.mail import mailboxes
from vani.models import Mailbox, MailboxKind, MailboxState, SyncStatus
from vani.plugins.oauth import Report
from vani.providers.gmail import api as gmail_api
from vani.providers.gmail import sync as gmail_sync
from vani.providers.gmail.api import Gmail, GmailError


class GmailConnector(gmail_api.GoogleOAuth):
    """"Connect Gmail": Google's sign-in (``gmail_api.GoogleOAuth``), then the mailbox stored and
    its push started."""

    def connected(self, token: Mapping, pending: Mapping, **context) -> Report:
        return connected(token)


CONNECTOR = GmailConnector()


def connected(token: Mapping) -> Report:
    """Read the address, store the mailbox (commits) and start its push. Raises ``GmailError``
    when Google refuses a step before the mailbox is stored; a watch Google refuses is reported,
    and retried by the daily renewal."""
    cfg = current_app.config
    granted = Mailbox(kind=MailboxKind.GMAIL)
    gmail_api.save_tokens(granted, token)
    profile = Gmail(granted, cfg).profile()
    address = str(profile.get("emailAddress") or "").strip().lower()
    if "@" not in address or len(address) > 320:
        raise GmailError("Gmail's profile names no email address")
    mailbox = mailboxes.by_address(MailboxKind.GMAIL, address)
    if mailbox is None:
        mailbox = Mailbox(kind=MailboxKind.GMAIL, address=address)
        db.session.add(mailbox)
    mailbox.access_token, mailbox.token_expires_at = granted.access_token, granted.token_expires_at
    mailbox.refresh_token = granted.refresh_token or mailbox.refresh_token
    if not mailbox.refresh_token:
        db.session.rollback()
        raise GmailError("Google sent no refresh token: remove Vani's access in the Google account's "
                         "security settings and connect again")
    mailbox.state, mailbox.last_error = MailboxState.CONNECTED, None
    report = Report(address, [f"connected {address}"])
    try:
        gmail_sync.watch(mailbox, cfg)
        report.done.append("Gmail pushes its changes to Vani")
    except GmailError as exc:
        mailbox.last_error = f"Gmail did not start pushing changes: {exc.message}"[:2000]
        report.failed.append(mailbox.last_error)
    db.session.flush()
    mailboxes.mark_due(mailbox.id, by_person=True)  # a new mailbox reads its last days; a reconnected one catches up
    mailboxes.wake()
    db.session.commit()
    return report


def disconnect(mailbox: Mailbox) -> Report:
    """Stop the mailbox's push and revoke its grant (best effort: what failed is reported), then
    delete it (commits)."""
    if mailbox.kind != MailboxKind.GMAIL:
        raise VaniError(f"{mailbox.address} is not a Gmail mailbox: remove it instead.")
    if mailbox.status == SyncStatus.SYNCING:
        raise Conflict("the mailbox is syncing right now: try again in a moment")
    cfg = current_app.config
    report = Report(mailbox.address)
    steps = (("stopped the push", "stopping the push", lambda: Gmail(mailbox, cfg).stop()),
             ("revoked Vani's access", "revoking Vani's access", lambda: _revoke(mailbox, cfg)))
    if _shared(mailbox):  # the watch and the grant belong to the Google account: keep them for the other
        steps = ()
        report.done.append("left Google's push and grant in place: another organisation reads this mailbox")
    for done, doing, step in steps:  # stop first: it needs the token the revocation ends
        try:
            step()
            report.done.append(done)
        except GmailError as exc:
            report.failed.append(f"{doing}: {exc.message}")
    mailboxes.remove(mailbox.id)
    report.done.append("removed the mailbox from Vani")
    return report


def _shared(mailbox: Mailbox) -> bool:
    """True when another organisation has connected the same Gmail address."""
    with tenancy.everywhere():
        return db.session.execute(select(Mailbox.id).where(
            Mailbox.kind == MailboxKind.GMAIL, Mailbox.address == mailbox.address,
            Mailbox.id != mailbox.id).limit(1)).first() is not None


def _revoke(mailbox: Mailbox, cfg: Mapping) -> None:
    token = mailbox.refresh_token or mailbox.access_token
    if not token:
        raise GmailError("no token is stored")
    gmail_api.revoke(token, cfg)
