"""A backfill: "send every event since T that matches this subscription", as durable work."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, Leased, UTCDateTime, in_states, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class BackfillStatus(enum.StrEnum):
    PENDING = "pending"    # waiting for a worker (or to continue where it stopped)
    RUNNING = "running"    # claimed by a worker
    FAILED = "failed"      # a chunk failed; retried at next_attempt_at
    DONE = "done"
    DEAD = "dead"          # failed every attempt, or its subscription was disabled


class Backfill(OrgOwned, Leased, db.Model):
    """Walks the organisation's outbound events from ``since`` (ids ``cursor`` + 1 to
    ``last_event_id``, the newest when it started: later events fan out by themselves) and
    makes the deliveries the subscription lacks. ``scanned`` of ``total`` is its progress."""

    __tablename__ = "subscription_backfills"
    __table_args__ = (
        Index("ix_subscription_backfills_due", "next_attempt_at", "id",
              **in_states(BackfillStatus.PENDING, BackfillStatus.FAILED)),
        Index("ix_subscription_backfills_subscription", "subscription_id", "id"),
        Index("ix_subscription_backfills_org", "org_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # the last outbound event id looked at
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)  # deliveries it made
    status: Mapped[BackfillStatus] = mapped_column(state_type(BackfillStatus), default=BackfillStatus.PENDING)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def progress(self) -> float:
        return 1.0 if self.status == BackfillStatus.DONE or not self.total else min(self.scanned / self.total, 1.0)

    def to_dict(self) -> dict:
        return {"id": self.id, "subscription_id": self.subscription_id, "since": isoformat(self.since),
                "status": self.status, "total": self.total or 0, "scanned": self.scanned or 0,
                "deliveries_created": self.created or 0, "progress": round(self.progress, 4),
                "attempts": self.attempts or 0, "last_error": self.last_error,
                "created_at": isoformat(self.created_at), "finished_at": isoformat(self.finished_at)}
