"""Where each notification went: one row per (notification, channel)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, isoformat, utcnow


class SendStatus:
    PENDING = "pending"    # waiting for a worker
    SENDING = "sending"    # claimed by a worker
    SENT = "sent"
    COVERED = "covered"    # webhook channel: subscribers get the same-named outbound domain event
    FAILED = "failed"      # next_attempt_at set: will retry; None: gave up (retry by hand)
    SKIPPED = "skipped"    # channel not configured
    DONE = (SENT, COVERED, SKIPPED)
    ALL = (PENDING, SENDING, SENT, COVERED, FAILED, SKIPPED)


class NotificationSend(db.Model):
    __tablename__ = "notification_sends"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_sends_notification_channel"),
        Index("ix_notification_sends_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # slack | email | webhook
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # what was done
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "notification_id": self.notification_id, "channel": self.channel,
            "status": self.status, "attempts": self.attempts, "last_error": self.last_error,
            "detail": self.detail, "next_attempt_at": isoformat(self.next_attempt_at),
            "sent_at": isoformat(self.sent_at), "created_at": isoformat(self.created_at),
        }
