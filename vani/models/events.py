"""Inbound webhook calls: stored events and rejected calls."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, JSONType, Leased, UTCDateTime, in_states, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class EventStatus(enum.StrEnum):
    RECEIVED = "received"      # stored, waiting for a worker
    PROCESSING = "processing"  # claimed by a worker
    PROCESSED = "processed"
    IGNORED = "ignored"        # nothing to do; ``outcome`` says why
    FAILED = "failed"          # processing raised; retried at ``next_attempt_at``
    DEAD = "dead"              # failed every allowed attempt: waits for a person (replay)


class WebhookEvent(OrgOwned, Leased, db.Model):
    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "dedupe_key", name="uq_webhook_events_org_provider_dedupe_key"),
        # Only waiting rows: the claim walks this small index in due order.
        Index("ix_webhook_events_due", "next_attempt_at", "id",
              **in_states(EventStatus.RECEIVED, EventStatus.FAILED)),
        Index("ix_webhook_events_received", "org_id", "received_at", "id"),
        Index("ix_webhook_events_provider_received", "org_id", "provider", "received_at", "id"),
        Index("ix_webhook_events_status_received", "org_id", "status", "received_at", "id"),
        Index("ix_webhook_events_type_received", "org_id", "event_type", "received_at", "id"),
        # Filled by processing: rows still waiting stay out of these (cheaper ingest).
        Index("ix_webhook_events_subject_email", "org_id", "subject_email",
              postgresql_where=text("subject_email IS NOT NULL"), sqlite_where=text("subject_email IS NOT NULL")),
        Index("ix_webhook_events_subject_ref", "org_id", "subject_ref",
              postgresql_where=text("subject_ref IS NOT NULL"), sqlite_where=text("subject_ref IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(120))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[EventStatus] = mapped_column(state_type(EventStatus), default=EventStatus.RECEIVED)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    payload: Mapped[dict | list | None] = mapped_column(JSONType, nullable=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # ignore reason or error
    # Filled by processing, for search and links.
    subject_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the webhook call's (vani.tracing)
    prospect_id: Mapped[int | None] = mapped_column(ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True)

    def to_dict(self, full: bool = False) -> dict:
        data = {
            "id": self.id,
            "provider": self.provider,
            "type": self.event_type,
            "status": self.status,
            "verified": self.verified,
            "attempts": self.attempts,
            "outcome": self.outcome,
            "received_at": isoformat(self.received_at),
            "processed_at": isoformat(self.processed_at),
            "prospect_id": self.prospect_id,
            "meeting_id": self.meeting_id,
        }
        if full:
            data["headers"] = self.headers
            data["payload"] = self.payload
            data["dedupe_key"] = self.dedupe_key
            data["next_attempt_at"] = isoformat(self.next_attempt_at)
        return data


class RejectedCall(OrgOwned, db.Model):
    """A refused webhook call, kept (bounded) so staff can debug a secret mismatch."""

    __tablename__ = "rejected_calls"
    __table_args__ = (Index("ix_rejected_calls_created", "org_id", "created_at", "id"),
                      Index("ix_rejected_calls_provider", "org_id", "provider", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    checked_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    body_size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "provider": self.provider, "reason": self.reason, "detail": self.detail,
            "remote_addr": self.remote_addr, "checked_url": self.checked_url, "headers": self.headers,
            "body_size": self.body_size, "created_at": isoformat(self.created_at),
        }
