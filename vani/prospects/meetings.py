"""Meetings: created or updated from bookings, moved between states, paid.

Everything runs inside an event's transaction (see ``processing``) and is idempotent. Providers
deliver out of order, so a change older than the newest one applied is ignored (a cancel still
wins over anything), and scheduling never reopens a finished meeting.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from vani import prospects
from vani.extensions import db
from vani.models import EventType, Meeting, MeetingStatus, NotificationKind, ProspectStage
from vani.models import clock
from vani.models.base import as_utc, utcnow
from vani.models.dbutil import fit, insert_new
from vani.notifications import moments
from vani.outbound import outbox
from vani.processing.context import EventContext
from vani.prospects import known, qualification

REF_MAX = 512  # Meeting.provider_ref
MAX_AMOUNT = Decimal(10) ** 10  # Meeting.payment_amount is Numeric(12, 2)
LIVE = (MeetingStatus.SCHEDULED, MeetingStatus.PENDING, MeetingStatus.IN_PROGRESS)
STAGES = {MeetingStatus.SCHEDULED: ProspectStage.BOOKED, MeetingStatus.PENDING: ProspectStage.BOOKED,
          MeetingStatus.IN_PROGRESS: ProspectStage.BOOKED, MeetingStatus.COMPLETED: ProspectStage.MET,
          MeetingStatus.NO_SHOW: ProspectStage.NO_SHOW}
# The event a meeting's new status emits (a pending booking is a scheduled one to subscribers).
EVENT_TYPES = {
    MeetingStatus.SCHEDULED: EventType.MEETING_SCHEDULED, MeetingStatus.PENDING: EventType.MEETING_SCHEDULED,
    MeetingStatus.CANCELLED: EventType.MEETING_CANCELLED, MeetingStatus.RESCHEDULED: EventType.MEETING_RESCHEDULED,
    MeetingStatus.COMPLETED: EventType.MEETING_COMPLETED, MeetingStatus.NO_SHOW: EventType.MEETING_NO_SHOW,
    MeetingStatus.IN_PROGRESS: EventType.MEETING_STARTED,
}
NOTIFIED = (NotificationKind.MEETING_SCHEDULED, NotificationKind.MEETING_CANCELLED, NotificationKind.MEETING_NO_SHOW)


def describe_time(value: datetime) -> str:
    """``2026-01-05 11:00 CET``: in the time zone of the organisation in force, the zone named."""
    return clock.describe(value)


def headline(provider_title: str, verb: str, start: datetime | None, title: str | None) -> str:
    """``Calendly meeting scheduled for 2026-01-05 11:00 CET – 30 Minute Meeting``"""
    text = f"{provider_title} meeting {verb}"
    if start is not None:
        text += f" for {describe_time(start)}"
    if title:
        text += f" – {title}"
    return text


def get(provider: str, ref: str) -> Meeting | None:
    """The meeting, row-locked on PostgreSQL so two workers serialise on it."""
    stmt = select(Meeting).where(Meeting.provider == provider, Meeting.provider_ref == ref[:REF_MAX])
    return db.session.execute(stmt.with_for_update()).scalar_one_or_none()


def ensure(ctx: EventContext, provider: str, ref: str, initial: dict | None = None,
           **fields: Any) -> tuple[Meeting, bool]:
    """Get the meeting or create it with ``fields`` (plus ``initial``, used only when creating);
    an existing meeting gets its missing ``fields`` filled in."""
    ref = ref[:REF_MAX]
    fields = fit(Meeting, fields)
    values = fit(Meeting, {"status": MeetingStatus.SCHEDULED, **fields, **(initial or {}),
                           "org_id": ctx.org_id, "provider": provider, "provider_ref": ref,
                           "created_at": ctx.received_at, "updated_at": ctx.received_at})
    key = known.meeting_key(ctx.org_id, provider, ref)
    meeting, created = known.get_or_add(Meeting, key, values)  # read or added with the batch
    if meeting is None:
        meeting = insert_new(Meeting, values, ["org_id", "provider", "provider_ref"])  # ours until commit
        created = meeting is not None
        meeting = meeting or get(provider, ref)
        known.remember(Meeting, key, meeting)
    if not created:
        for name, value in fields.items():
            if name != "status" and value is not None and getattr(meeting, name) in (None, ""):
                setattr(meeting, name, value)
    ctx.focus(meeting)
    return meeting, created


def upsert(ctx: EventContext, ref: str, status: MeetingStatus, changed_at: datetime | None = None,
           reason: str | None = None, **fields: Any) -> Meeting:
    """Get or create this provider's meeting ``ref`` and move it to ``status``.

    Emits ``meeting.<status>`` once when the meeting is created or its status changes."""
    changed_at = as_utc(changed_at)
    initial: dict[str, Any] = {"status": status, "last_change_at": changed_at}
    if reason is not None:
        initial["cancellation_reason"] = reason
    meeting, created = ensure(ctx, ctx.provider, ref, initial=initial, **fields)
    if created:
        _emit(ctx, meeting, status)
    else:
        set_status(ctx, meeting, status, changed_at, reason)
    return meeting


def data(meeting: Meeting) -> dict:
    """The outbound representation of a meeting, with its prospect."""
    out = meeting.to_dict()
    out["prospect"] = prospects.summary(meeting.prospect)
    return out


def _emit(ctx: EventContext, meeting: Meeting, status: MeetingStatus, suffix: str = "") -> None:
    """Tell subscribers (and, for bookings, cancels and no-shows, the team) that the meeting is
    now ``status``; move its prospect's stage along."""
    event_type = EVENT_TYPES[status]
    if status in STAGES:
        qualification.advance(ctx, meeting.prospect, STAGES[status])
    elif status == MeetingStatus.CANCELLED:
        qualification.after_cancel(ctx, meeting.prospect)
    outbox.emit(ctx, event_type, data(meeting), f"{meeting.id}:{status}{suffix}")
    if event_type in NOTIFIED and not suffix:
        moments.notify(ctx, NotificationKind(event_type), f"{event_type}:{meeting.provider}:{meeting.provider_ref}",
                       meeting=meeting,
                       data={"title": meeting.title, "start_at": meeting.start_at.isoformat() if meeting.start_at else None,
                             "reason": meeting.cancellation_reason})


def set_status(ctx: EventContext, meeting: Meeting, status: MeetingStatus, changed_at: datetime | None = None,
               reason: str | None = None) -> bool:
    """Move a meeting to ``status`` and emit ``meeting.<status>``. Returns False if nothing changed.

    A change older than the newest applied one is ignored (a cancel still wins over anything),
    no-show marks are strictly time-ordered, and scheduling never reopens a cancelled,
    rescheduled, completed or no-show meeting."""
    changed_at = as_utc(changed_at)
    last = as_utc(meeting.last_change_at)
    stale = bool(changed_at and last and changed_at < last)
    final = MeetingStatus.final()
    if stale and (status not in final or status == MeetingStatus.NO_SHOW):
        return False
    if status in LIVE and meeting.status in final:
        return False
    if meeting.status == status:
        if reason and not meeting.cancellation_reason:
            meeting.cancellation_reason = reason
        return False
    if status == MeetingStatus.NO_SHOW:
        meeting.previous_status = meeting.status
    meeting.status = status
    if reason is not None:
        meeting.cancellation_reason = reason
    if changed_at and (last is None or changed_at > last):
        meeting.last_change_at = changed_at
    db.session.flush()
    _emit(ctx, meeting, status)
    return True


def complete(ctx: EventContext, meeting: Meeting, changed_at: datetime | None = None, tell: bool = True) -> bool:
    """The meeting has ended: ``completed``, ``meeting.completed``, its prospect ``met``, and the
    team told (unless ``tell`` is false). False, and nothing raised, when it was completed already
    (or may not be)."""
    if not set_status(ctx, meeting, MeetingStatus.COMPLETED, changed_at):
        return False
    if tell:
        notify_completed(ctx, meeting)
    return True


def notify_completed(ctx: EventContext, meeting: Meeting) -> None:
    """Tell the team the meeting has ended: once per meeting, whoever says so first (the
    provider's "meeting ended" or its end time passing)."""
    kind = NotificationKind.MEETING_COMPLETED
    moments.notify(ctx, kind, f"{kind}:{meeting.provider}:{meeting.provider_ref}", meeting=meeting,
                   data=data(meeting))


def clear_no_show(ctx: EventContext, meeting: Meeting, changed_at: datetime | None = None) -> bool:
    """Undo a no-show mark (back to the status before it). The time of the unmark is kept even
    when there is nothing to undo, so an older mark delivered late stays ignored."""
    changed_at = as_utc(changed_at)
    last = as_utc(meeting.last_change_at)
    if changed_at and last and changed_at < last:
        return False
    if changed_at:
        meeting.last_change_at = changed_at
    if meeting.status != MeetingStatus.NO_SHOW:
        db.session.flush()
        return False
    meeting.status = meeting.previous_status or MeetingStatus.SCHEDULED
    meeting.previous_status = None
    db.session.flush()
    _emit(ctx, meeting, meeting.status, ":no_show_cleared")
    return True


def record_payment(ctx: EventContext, meeting: Meeting, amount: Decimal | None, currency: str | None,
                   paid_at: datetime | None = None, details: dict | None = None) -> bool:
    """Record a payment once per meeting: a notification and ``payment.received``."""
    if meeting.paid_at is not None:
        return False
    if amount is not None and not (amount.is_finite() and abs(amount) < MAX_AMOUNT):
        amount = None  # not a price Numeric(12, 2) can hold: recorded as unknown
    meeting.paid_at = as_utc(paid_at) or utcnow()
    meeting.payment_amount = amount
    meeting.payment_currency = currency.upper()[:8] if currency else None
    db.session.flush()
    payload = {"amount": str(amount) if amount is not None else None,
               "currency": meeting.payment_currency, "meeting": data(meeting), **(details or {})}
    kind = NotificationKind.PAYMENT_RECEIVED
    moments.notify(ctx, kind, f"{kind}:{meeting.provider}:{meeting.provider_ref}", meeting=meeting, data=payload)
    outbox.emit(ctx, EventType.PAYMENT_RECEIVED, payload, meeting.id)
    qualification.advance(ctx, meeting.prospect, ProspectStage.PAID)
    return True
