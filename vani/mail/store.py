"""Storing mail as events: one ``email.received`` / ``email.sent`` event per message, once.

The dedupe key is the mailbox and the message's own id (Gmail's id; for IMAP the Message-ID
header, else the folder, UIDVALIDITY and UID), so pushes that arrive together, a resync or a
replayed folder never store a message twice. Stored in the sync's transaction, with the
mailbox's new position, so a crash stores neither or both.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from vani.extensions import db
from vani.models import EventStatus, EventType, Mailbox, WebhookEvent
from vani.models.base import isoformat, utcnow
from vani.models.dbutil import insert_ignore
from vani.payloads.safejson import clean, clean_text

RECEIVED, SENT = EventType.EMAIL_RECEIVED, EventType.EMAIL_SENT


@dataclass
class EmailIn:
    """One message as a mailbox described it (headers and a snippet, never the body)."""

    provider_message_id: str          # Gmail's message id; IMAP: "<folder>/<uidvalidity>/<uid>"
    direction: str                    # "inbound" or "outbound" (sent by the mailbox's owner)
    message_id: str | None = None     # the Message-ID header
    thread_id: str | None = None      # Gmail's thread id; IMAP: the first References / In-Reply-To id
    from_address: str | None = None
    from_name: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str | None = None
    snippet: str | None = None
    date: datetime | None = None
    labels: list[str] = field(default_factory=list)
    folder: str | None = None

    def payload(self, mailbox: Mailbox) -> dict:
        data = asdict(self)
        data["date"] = isoformat(self.date)
        return clean({"mailbox": {"id": mailbox.id, "kind": str(mailbox.kind), "address": mailbox.address},
                      "message": data})


def dedupe_key(mailbox: Mailbox, item: EmailIn) -> str:
    """Gmail's id; else the Message-ID; else what the message says of itself (its UID changes
    when a folder is renumbered, so it cannot be the key)."""
    own = (item.message_id or "").strip()
    if mailbox.kind == "gmail":
        own = item.provider_message_id
    elif not own:
        facts = "\n".join([item.direction, item.from_address or "", ",".join(item.to), item.subject or "",
                           isoformat(item.date) or "", item.snippet or ""])
        own = "content:" + hashlib.sha256(facts.encode("utf-8", "replace")).hexdigest()
    key = f"{mailbox.id}:{own}"
    return key if len(key) <= 255 else f"{mailbox.id}:sha256:{hashlib.sha256(own.encode()).hexdigest()}"


def store(mailbox: Mailbox, items: list[EmailIn]) -> int:
    """Store the messages as events of ``mailbox.kind`` (no commit). Returns how many were new."""
    if not items:
        return 0
    now = utcnow()
    rows = [dict(org_id=mailbox.org_id, provider=str(mailbox.kind),
                 event_type=SENT if item.direction == "outbound" else RECEIVED, dedupe_key=dedupe_key(mailbox, item),
                 verified=True, status=EventStatus.RECEIVED.value, body=b"", headers={},
                 payload=item.payload(mailbox), subject_email=clean_text(item.from_address or "")[:320] or None,
                 remote_addr=None, received_at=now, next_attempt_at=now, attempts=0) for item in items]
    new = 0
    for row in rows:  # one by one: a batch may repeat a message (a Gmail thread listed twice)
        new += db.session.execute(insert_ignore(WebhookEvent, row, ["org_id", "provider", "dedupe_key"])).scalar() is not None
    return new


def count_events(mailbox: Mailbox) -> int:
    return db.session.execute(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.provider == str(mailbox.kind), WebhookEvent.dedupe_key.like(f"{mailbox.id}:%"))).scalar_one()
