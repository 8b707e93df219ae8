"""What Vani sends on WhatsApp: replies (typed, through the API, or automatic), read receipts,
every attempt at them, and the rules that answer by themselves."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, JSONType, Leased, UTCDateTime, in_states, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class SendKind(enum.StrEnum):
    TEXT = "text"          # free text: only inside the 24-hour service window
    TEMPLATE = "template"  # an approved template: any time
    READ = "read"          # a read receipt for an inbound message (Kapso)


class OutgoingStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (the first try)
    SENDING = "sending"  # claimed by a worker
    FAILED = "failed"    # the try failed; retried at next_attempt_at
    SENT = "sent"        # the provider accepted it
    DEAD = "dead"        # refused, out of tries, or maybe sent by a worker that died: retry by hand


OPEN_REPLIES = "status IN ('pending', 'failed', 'sending') AND kind IN ('text', 'template')"


class MessageSend(OrgOwned, Leased, db.Model):
    """One intent to send: a reply or a read receipt. ``intent_key`` makes it once per intent (an
    ``Idempotency-Key``, the dashboard form's nonce, ``auto:<inbound message>``, ``read:<message>``)."""

    __tablename__ = "message_sends"
    __table_args__ = (
        UniqueConstraint("org_id", "intent_key", name="uq_message_sends_org_intent"),
        Index("ix_message_sends_due", "next_attempt_at", "id",
              **in_states(OutgoingStatus.PENDING, OutgoingStatus.FAILED)),
        Index("ix_message_sends_status_lease", "status", "lease_expires_at"),
        Index("ix_message_sends_message", "message_id"),
        # A conversation's replies still to go out: what holds a later reply back (its lane's claims).
        Index("ix_message_sends_open_replies", "conversation_id", "id",
              postgresql_where=text(OPEN_REPLIES), sqlite_where=text(OPEN_REPLIES)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[SendKind] = mapped_column(state_type(SendKind))
    intent_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # what the key was first used for
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"text"} or {"template": {...}}
    status: Mapped[OutgoingStatus] = mapped_column(state_type(OutgoingStatus), default=OutgoingStatus.PENDING)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set just before the provider is called: a takeover after it must not send again.
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "attempts": self.attempts,
                "last_error": self.last_error, "error_code": self.error_code,
                "next_attempt_at": isoformat(self.next_attempt_at), "sent_at": isoformat(self.sent_at)}


class SendAttempt(OrgOwned, db.Model):
    """One call to the provider for a send, as it went."""

    __tablename__ = "message_send_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("message_sends.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | refused
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict:
        return {"attempt": self.attempt, "outcome": self.outcome, "http_status": self.http_status,
                "error_code": self.error_code, "error_message": self.error_message,
                "duration_ms": self.duration_ms, "at": isoformat(self.created_at)}


class RuleTrigger(enum.StrEnum):
    FIRST_MESSAGE = "first_message"  # the first inbound message of a conversation
    KEYWORD = "keyword"              # any of the comma-separated words appears (case and accents ignored)
    PATTERN = "pattern"              # a regular expression matches (case and accents ignored)
    OUTSIDE_HOURS = "outside_hours"  # outside the weekly hours, in the organisation's timezone


class AutoReplyRule(OrgOwned, db.Model):
    __tablename__ = "autoreply_rules"
    __table_args__ = (Index("ix_autoreply_rules_org_position", "org_id", "position", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120))
    trigger: Mapped[RuleTrigger] = mapped_column(state_type(RuleTrigger))
    match: Mapped[str | None] = mapped_column(String(500), nullable=True)  # keywords or the pattern
    hours: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"mon": ["09:00-17:00"], …}
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    template: Mapped[dict | None] = mapped_column(JSONType, nullable=True)  # {"name", "language", "variables"}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "position": self.position, "name": self.name, "trigger": self.trigger,
                "match": self.match, "hours": self.hours or {}, "reply_text": self.reply_text,
                "template": self.template, "active": self.active,
                "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at)}
