"""The sales domain: prospects, their notes and meetings, and notifications."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vani import tracing
from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"          # requested, waiting for the host to confirm
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"  # replaced by another meeting
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    IN_PROGRESS = "in_progress"  # Cal.com MEETING_STARTED

    @classmethod
    def final(cls) -> frozenset[MeetingStatus]:
        """States a late "scheduled" never reopens."""
        return frozenset({cls.CANCELLED, cls.RESCHEDULED, cls.COMPLETED, cls.NO_SHOW})


class ProspectStage(enum.StrEnum):
    """Where a prospect is in the funnel; moved forward by events, never back by a late one
    (only a cancel with no other live meeting takes ``booked`` back to ``lead``)."""
    LEAD = "lead"
    BOOKED = "booked"
    MET = "met"
    NO_SHOW = "no_show"
    PAID = "paid"

    @property
    def rank(self) -> int:
        return {"lead": 0, "booked": 1, "met": 2, "no_show": 2, "paid": 3}[self.value]


class NotificationStatus(enum.StrEnum):
    """A notification's summary of its sends (one per channel)."""
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Prospect(OrgOwned, db.Model):
    __tablename__ = "prospects"
    __table_args__ = (
        UniqueConstraint("org_id", "email", name="uq_prospects_org_email"),
        Index("ix_prospects_phone", "org_id", "phone"),
        Index("ix_prospects_created", "org_id", "created_at", "id"),
        Index("ix_prospects_stage", "org_id", "stage"),
        Index("ix_prospects_owner", "org_id", "owner_id"),
        Index("ix_prospects_utm_source", "org_id", "utm_source"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # unique per organisation
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)  # E.164
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stage: Mapped[ProspectStage] = mapped_column(state_type(ProspectStage), default=ProspectStage.LEAD)
    # First touch: the UTM fields of the first form or booking that carried any.
    utm: Mapped[dict] = mapped_column(JSONType, default=dict)
    utm_source: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    owner_set_by_hand: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    notes: Mapped[list[ProspectNote]] = relationship(
        back_populates="prospect", order_by="ProspectNote.id", cascade="all, delete-orphan")
    meetings: Mapped[list[Meeting]] = relationship(
        back_populates="prospect", order_by="Meeting.start_at", foreign_keys="Meeting.prospect_id")

    def to_dict(self) -> dict:
        return {
            "id": self.id, "email": self.email, "name": self.name, "phone": self.phone,
            "timezone": self.timezone, "source": self.source, "stage": self.stage or ProspectStage.LEAD,
            "utm": self.utm or {}, "owner_id": self.owner_id, "owner_email": self.owner_email,
            "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at),
        }


class ProspectNote(OrgOwned, db.Model):
    __tablename__ = "prospect_notes"
    __table_args__ = (UniqueConstraint("org_id", "note_key", name="uq_prospect_notes_org_note_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"), index=True)
    # Makes notes idempotent: one note per (inbound event, purpose).
    note_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True)
    # The member who wrote it (a note added by hand in the dashboard), else None.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prospect: Mapped[Prospect] = relationship(back_populates="notes")

    def to_dict(self) -> dict:
        return {"id": self.id, "body": self.body, "source": self.source, "meeting_id": self.meeting_id,
                "author_id": self.author_id, "created_at": isoformat(self.created_at)}


class Meeting(OrgOwned, db.Model):
    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "provider_ref", name="uq_meetings_org_provider_ref"),
        Index("ix_meetings_status_start", "org_id", "status", "start_at"),
        Index("ix_meetings_start", "org_id", "start_at", "id"),
        Index("ix_meetings_booking_id", "org_id", "provider", "booking_id"),
        Index("ix_meetings_status_end", "status", "end_at"),  # every organisation's ended meetings
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(512))  # Calendly invitee URI, Cal.com booking uid
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True, index=True)
    title: Mapped[str | None] = mapped_column(String(512), nullable=True)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[MeetingStatus] = mapped_column(state_type(MeetingStatus), default=MeetingStatus.SCHEDULED)
    # Status to return to when a no-show mark is removed.
    previous_status: Mapped[MeetingStatus | None] = mapped_column(state_type(MeetingStatus), nullable=True)
    join_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    location_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancellation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    payment_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    payment_currency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    answers: Mapped[list] = mapped_column(JSONType, default=list)  # [{"question", "answer"}] from the booking form
    utm: Mapped[dict] = mapped_column(JSONType, default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # the host
    booking_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # Cal.com's numeric booking id
    payment_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recording_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    transcript_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # Provider timestamp of the newest change applied, to ignore late, older updates.
    last_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    prospect: Mapped[Prospect | None] = relationship(back_populates="meetings", foreign_keys=[prospect_id])
    replaces: Mapped[Meeting | None] = relationship(remote_side=[id], foreign_keys=[replaces_id])

    def to_dict(self) -> dict:
        return {
            "id": self.id, "provider": self.provider, "provider_ref": self.provider_ref,
            "prospect_id": self.prospect_id, "title": self.title,
            "start_at": isoformat(self.start_at), "end_at": isoformat(self.end_at),
            "status": self.status, "join_url": self.join_url, "location_type": self.location_type,
            "cancellation_reason": self.cancellation_reason, "replaces_id": self.replaces_id,
            "paid_at": isoformat(self.paid_at),
            "payment_amount": str(self.payment_amount) if self.payment_amount is not None else None,
            "payment_currency": self.payment_currency, "answers": self.answers or [], "utm": self.utm or {},
            "owner_id": self.owner_id, "owner_email": self.owner_email,
            "payment_started_at": isoformat(self.payment_started_at), "recording_url": self.recording_url,
            "transcript_url": self.transcript_url,
            "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at),
        }


class Notification(OrgOwned, db.Model):
    """An important moment (a payment, a finished meeting) to tell the team about."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("org_id", "moment_key", name="uq_notifications_org_moment_key"),
        Index("ix_notifications_status_created", "org_id", "status", "created_at"),
        Index("ix_notifications_created", "org_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    # One notification per moment: e.g. "payment.received:cal_com:<uid>".
    moment_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[NotificationStatus] = mapped_column(state_type(NotificationStatus),
                                                      default=NotificationStatus.PENDING)
    prospect_id: Mapped[int | None] = mapped_column(ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_events.id", ondelete="SET NULL"), nullable=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=tracing.current)  # vani.tracing

    def to_dict(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "prospect_id": self.prospect_id,
            "meeting_id": self.meeting_id, "event_id": self.event_id, "data": self.data,
            "attempts": self.attempts, "last_error": self.last_error,
            "created_at": isoformat(self.created_at), "sent_at": isoformat(self.sent_at),
        }
