"""A prospect's timeline: notes, meetings, WhatsApp messages, emails, stage changes, leads and
inbound events, newest first, a keyset page at a time. One read model for the API
(``GET /api/v1/prospects/<id>/timeline``) and the prospect page.

Each kind is read with its own query (newest first, one more than a page, after the cursor) and
the answers merged; the order is (time, kind, id) descending, so a cursor names one entry
exactly even when two entries share a time.
"""
from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import defer

from vani.errors import MAX_ID, InvalidField
from vani.extensions import db
from vani.models import Conversation, Email, Lead, Meeting, Message, ProspectNote, ProspectStageChange, WebhookEvent
from vani.models.base import as_utc, isoformat
from vani.models.paging import MAX_CURSOR

EMAIL_EVENTS = ("email.received", "email.sent")  # shown as their emails


class EntryKind(enum.StrEnum):
    """What a timeline entry is; its position here breaks ties between entries of one time."""
    EVENT = "event"
    LEAD = "lead"
    STAGE_CHANGE = "stage_change"
    NOTE = "note"
    EMAIL = "email"
    MESSAGE = "message"
    MEETING = "meeting"

    @property
    def rank(self) -> int:
        return list(EntryKind).index(self)


@dataclass
class Entry:
    kind: EntryKind
    at: datetime
    id: int
    obj: object

    def to_dict(self) -> dict:
        return {"kind": self.kind, "at": isoformat(self.at), "id": self.id, self.kind.value: self.obj.to_dict()}


def _sources(prospect_id: int) -> dict[EntryKind, tuple]:
    """Per kind: (model, its time, the statement of the prospect's rows)."""
    msg_at = func.coalesce(Message.message_at, Message.created_at)
    meeting_at = func.coalesce(Meeting.start_at, Meeting.created_at)
    email_at = func.coalesce(Email.sent_at, Email.created_at)
    return {
        EntryKind.NOTE: (ProspectNote, ProspectNote.created_at,
                         select(ProspectNote).where(ProspectNote.prospect_id == prospect_id)),
        EntryKind.MEETING: (Meeting, meeting_at, select(Meeting).where(Meeting.prospect_id == prospect_id)),
        EntryKind.MESSAGE: (Message, msg_at, select(Message).join(Conversation, Conversation.id == Message.conversation_id)
                            .where(Conversation.prospect_id == prospect_id)),
        EntryKind.EMAIL: (Email, email_at, select(Email).where(Email.prospect_id == prospect_id)),
        EntryKind.STAGE_CHANGE: (ProspectStageChange, ProspectStageChange.created_at,
                                 select(ProspectStageChange).where(ProspectStageChange.prospect_id == prospect_id)),
        EntryKind.LEAD: (Lead, Lead.created_at, select(Lead).where(Lead.prospect_id == prospect_id)),
        EntryKind.EVENT: (WebhookEvent, WebhookEvent.received_at, select(WebhookEvent).options(
            defer(WebhookEvent.body), defer(WebhookEvent.headers), defer(WebhookEvent.payload))
            .where(WebhookEvent.prospect_id == prospect_id, WebhookEvent.event_type.notin_(EMAIL_EVENTS))),
    }


def encode_cursor(entry: Entry) -> str:
    raw = f"{as_utc(entry.at).isoformat()}|{entry.kind}|{entry.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, EntryKind, int]:
    bad = InvalidField("cursor", "not a cursor this API returned")
    if len(cursor) > MAX_CURSOR:
        raise bad
    try:
        at, kind, id_ = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        when, kind, number = as_utc(datetime.fromisoformat(at)), EntryKind(kind), int(id_)
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not 0 <= number <= MAX_ID:
        raise bad
    return when, kind, number


def _after(kind: EntryKind, at_col, id_col, cursor: tuple[datetime, EntryKind, int]):
    """Entries of ``kind`` that come after the cursor in (time, kind, id) descending order."""
    c_at, c_kind, c_id = cursor
    if kind.rank < c_kind.rank:
        return at_col <= c_at
    if kind.rank > c_kind.rank:
        return at_col < c_at
    return or_(at_col < c_at, and_(at_col == c_at, id_col < c_id))


def timeline(prospect_id: int, cursor: str | None = None, limit: int = 50) -> tuple[list[Entry], str | None]:
    """One page of the prospect's timeline, newest first, and the next page's cursor (None: last)."""
    after = decode_cursor(cursor) if cursor else None
    entries: list[Entry] = []
    for kind, (model, at_col, stmt) in _sources(prospect_id).items():
        if after is not None:
            stmt = stmt.where(_after(kind, at_col, model.id, after))
        stmt = stmt.add_columns(at_col).order_by(at_col.desc(), model.id.desc()).limit(limit + 1)
        entries += [Entry(kind, as_utc(at), obj.id, obj) for obj, at in db.session.execute(stmt)]
    entries.sort(key=lambda e: (e.at, e.kind.rank, e.id), reverse=True)
    more = len(entries) > limit
    entries = entries[:limit]
    return entries, encode_cursor(entries[-1]) if more and entries else None
