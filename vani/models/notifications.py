"""Where each notification went (one row per notification and channel), and the notification vocabularies."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, Leased, UTCDateTime, in_states, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class Channel(enum.StrEnum):
    """Where a notification can go; the value is what routes name and a send stores."""
    SLACK = "slack"
    EMAIL = "email"      # VANI_NOTIFY_EMAIL_TO
    WEBHOOK = "webhook"  # the outbound webhook catalogue (nothing sent of its own)
    OWNER = "owner"      # email to the notification's owner
    ADMINS = "admins"    # email to the organisation's admins


class NotificationKind(enum.StrEnum):
    """What a notification is about; the value is what routes name and a notification stores."""
    PAYMENT_RECEIVED = "payment.received"
    MEETING_COMPLETED = "meeting.completed"
    PROSPECT_CREATED = "prospect.created"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_FAILED = "message.failed"
    CONVERSATION_HANDOFF = "conversation.handoff"
    LEAD_CREATED = "lead.created"
    MEETING_SCHEDULED = "meeting.scheduled"
    MEETING_CANCELLED = "meeting.cancelled"
    MEETING_NO_SHOW = "meeting.no_show"
    # Alerts: for the team only, to the admins unless a route names them.
    ALERT_SUBSCRIPTION_DISABLED = "alert.subscription_disabled"
    ALERT_DEAD_LETTERS = "alert.dead_letters"
    ALERT_PROVIDER_SUBSCRIPTION_DISABLED = "alert.provider_subscription_disabled"
    ALERT_PROVIDER_QUIET = "alert.provider_quiet"
    ALERT_PROCESS_QUIET = "alert.process_quiet"

    @property
    def is_alert(self) -> bool:
        return self.startswith("alert.")


class SendStatus(enum.StrEnum):
    PENDING = "pending"    # waiting for a worker (the first try)
    SENDING = "sending"    # claimed by a worker
    SENT = "sent"
    COVERED = "covered"    # webhook channel: subscribers get the same-named outbound domain event
    FAILED = "failed"      # the try failed; retried at next_attempt_at
    DEAD = "dead"          # every allowed try failed, or a crash left it unknown: retry by hand
    SKIPPED = "skipped"    # channel not configured

    @classmethod
    def done(cls) -> frozenset[SendStatus]:
        return frozenset({cls.SENT, cls.COVERED, cls.SKIPPED})


class NotificationSend(OrgOwned, Leased, db.Model):
    __tablename__ = "notification_sends"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_sends_notification_channel"),
        Index("ix_notification_sends_due", "next_attempt_at", "id",
              **in_states(SendStatus.PENDING, SendStatus.FAILED)),
        Index("ix_notification_sends_status_lease", "status", "lease_expires_at"),
        Index("ix_notification_sends_org", "org_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # a Channel
    status: Mapped[SendStatus] = mapped_column(state_type(SendStatus), default=SendStatus.PENDING)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # what was done
    # Set just before the channel is called: a takeover after it must not send again (it may have gone out).
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
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
