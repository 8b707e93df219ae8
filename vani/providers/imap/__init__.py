"""IMAP mailboxes: no webhook reaches Vani; the sync stores each message as an ``email.received``
or ``email.sent`` event of this provider (``vani.mail``), mapped here like any event.

Parts: ``client`` (IMAPClient through the egress), ``sync`` (the syncer the mailbox lane calls),
``watch`` (IMAP IDLE, waking the lane).
"""
from __future__ import annotations

from vani.plugins.contract import Outcome, Provider
from vani.providers.imap import sync as imap_sync


class ImapProvider(Provider):
    name = "imap"
    title = "IMAP mailboxes"
    webhook = False  # read by Vani's own sync, never called
    syncer = imap_sync

    def verify(self, data, secrets, now, tolerance) -> None:  # pragma: no cover - no endpoint
        raise NotImplementedError("IMAP has no webhook endpoint")

    def parse(self, data):  # pragma: no cover - no endpoint
        raise NotImplementedError("IMAP has no webhook endpoint")

    def map(self, event, ctx) -> Outcome:
        from vani.mail.mapping import map_email

        if event.event_type in ("email.received", "email.sent"):
            return map_email(event, ctx)
        return Outcome.ignored(f"IMAP event {event.event_type!r} is not handled")


provider = ImapProvider()
