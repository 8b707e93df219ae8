"""Cal.com triggers → prospects, meetings, notes, payments (see ``vani.prospects.meetings``).

The meeting's provider id is the booking ``uid``; a reschedule is a new booking (new uid)
linked to the one it replaces (``rescheduleUid``). The prospect is the first attendee; the
booking form's answers, its UTM source and the host (organizer) qualify the meeting. Triggers
that name only Cal.com's numeric booking id find the meeting by ``booking_id``.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select

from vani import prospects
from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Prospect
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext as MappingContext
from vani.prospects import meetings, qualification
from vani.prospects.meetings import describe_time, headline
from vani.providers.cal_com import forms
from vani.providers.cal_com.shapes import Booking, read_booking

TITLE = "Cal.com"
PENDING_STATES = {"PENDING", "AWAITING_HOST"}


def _live_status(b: Booking) -> MeetingStatus:
    return MeetingStatus.PENDING if b.status in PENDING_STATES else MeetingStatus.SCHEDULED


def _prospect(b: Booking, ctx: MappingContext, booked: bool = False) -> Prospect | None:
    person = b.first
    if person is None or (not person.email and not person.phone):
        return None
    return prospects.upsert(ctx, email=person.email, name=person.name, phone=person.phone,
                            timezone=person.timezone, source="cal_com",
                            initial=qualification.prospect_fields(booked, b.utm, b.host_email))


def _meeting(b: Booking, ctx: MappingContext, status: MeetingStatus, reason: str | None = None,
             **extra) -> tuple[Meeting | None, Prospect | None, str | None]:
    """The booking's meeting moved to ``status``; created from the payload when it carries a
    uid and times. Returns (meeting, prospect, why not)."""
    if not b.uid:
        return None, None, "the booking has no uid"
    if b.start is None and meetings.get("cal_com", b.uid) is None:
        return None, None, f"no meeting for booking {b.uid} and the payload has no times to create one"
    prospect = _prospect(b, ctx, booked=status in (MeetingStatus.SCHEDULED, MeetingStatus.PENDING))
    meeting = meetings.upsert(ctx, b.uid, status, b.changed_at, reason=reason,
                                 **b.meeting_fields(prospect.id if prospect else None), **extra,
                                 **qualification.insert_fields(b.answers, b.utm, b.host_email))
    ctx.focus(meeting)
    qualification.apply(ctx, meeting, answers=b.answers, utm=b.utm, host_email=b.host_email)
    return meeting, prospect or meeting.prospect, None


def _known(b: Booking, ctx: MappingContext) -> Meeting | None:
    """The meeting an event names by uid or by Cal.com's booking id (no payload to create it from);
    the id is kept beside the uid."""
    meeting = meetings.get("cal_com", b.uid) if b.uid else None
    if meeting is None and b.booking_id:
        meeting = db.session.execute(select(Meeting).where(
            Meeting.provider == "cal_com", Meeting.booking_id == b.booking_id).order_by(Meeting.id)
            .with_for_update()).scalars().first()
    if meeting is not None:
        if b.booking_id and not meeting.booking_id:
            meeting.booking_id = b.booking_id
        ctx.focus(meeting)
    return meeting


def _unknown(b: Booking) -> Outcome:
    return Outcome.ignored(f"no meeting is known for Cal.com booking {b.booking_id or b.uid or '(unnamed)'}")


def _note(ctx: MappingContext, prospect: Prospect | None, meeting: Meeting, text: str, purpose: str) -> None:
    if prospect is None:
        return
    if ctx.prospect is None:
        ctx.use_prospect(prospect)
    prospects.add_note(ctx, prospect, text, purpose, meeting)


def booked(b: Booking, ctx: MappingContext, status: MeetingStatus = MeetingStatus.SCHEDULED) -> Outcome:
    if b.reschedule_uid:
        return rescheduled(b, ctx)
    meeting, prospect, why = _meeting(b, ctx, status)
    if meeting is None:
        return Outcome.ignored(why)
    verb = "requested (awaiting confirmation)" if status == MeetingStatus.PENDING else "scheduled"
    _note(ctx, prospect, meeting, headline(TITLE, verb, meeting.start_at, meeting.title), "scheduled")
    return Outcome.processed()


def rescheduled(b: Booking, ctx: MappingContext) -> Outcome:
    if not b.uid or b.start is None:
        return Outcome.ignored("the reschedule has no new booking uid or times")
    old = None
    if b.reschedule_uid and b.reschedule_uid != b.uid:
        prospect = _prospect(b, ctx)
        old = meetings.upsert(ctx, b.reschedule_uid, MeetingStatus.RESCHEDULED, b.changed_at,
                                 prospect_id=prospect.id if prospect else None, title=b.title,
                                 start_at=b.reschedule_start, end_at=b.reschedule_end)
    meeting, prospect, _ = _meeting(b, ctx, _live_status(b), replaces_id=old.id if old else None)
    text = headline(TITLE, "rescheduled", meeting.start_at, meeting.title)
    if old is not None and old.start_at is not None:
        text += f" (was {describe_time(old.start_at)})"
    if b.rescheduled_by:
        text += f" by {b.rescheduled_by}"
    _note(ctx, prospect, meeting, text, "rescheduled")
    return Outcome.processed()


def cancelled(b: Booking, ctx: MappingContext, rejected: bool = False) -> Outcome:
    reason = b.rejection_reason if rejected else b.cancellation_reason
    meeting, prospect, why = _meeting(b, ctx, MeetingStatus.CANCELLED, reason=reason)
    if meeting is None:
        return Outcome.ignored(why)
    if rejected:
        text = f"{TITLE} booking rejected" + (f" – {meeting.title}" if meeting.title else "")
    else:
        text = headline(TITLE, "cancelled", meeting.start_at, meeting.title)
        if b.cancelled_by:
            text += f" (by {b.cancelled_by})"
        if b.request_reschedule:
            # The organizer asked the attendee to book again: the booking itself is cancelled;
            # the new booking arrives later and links back to this one.
            text += "; the organizer asked to reschedule"
    if reason:
        text += f"; reason: {reason}"
    _note(ctx, prospect, meeting, text, "rejected" if rejected else "cancelled")
    return Outcome.processed("reschedule requested" if b.request_reschedule else None)


def ended(b: Booking, ctx: MappingContext) -> Outcome:
    meeting, prospect, why = _meeting(b, ctx, MeetingStatus.COMPLETED)
    if meeting is None:
        return Outcome.ignored(why)
    meetings.notify_completed(ctx, meeting)
    _note(ctx, prospect, meeting, f"{TITLE} meeting completed" + (f" – {meeting.title}" if meeting.title else ""),
          "completed")
    return Outcome.processed()


def started(b: Booking, ctx: MappingContext) -> Outcome:
    """The meeting is under way (``in_progress``); a late start never reopens an ended meeting."""
    meeting, prospect, why = _meeting(b, ctx, MeetingStatus.IN_PROGRESS)
    if meeting is None:
        return Outcome.ignored(why)
    if meeting.status != MeetingStatus.IN_PROGRESS:
        return Outcome.processed(f"meeting started; it is already {meeting.status}")
    _note(ctx, prospect, meeting, f"{TITLE} meeting started" + (f" – {meeting.title}" if meeting.title else ""),
          "started")
    return Outcome.processed()


def paid(b: Booking, ctx: MappingContext) -> Outcome:
    meeting, prospect, why = _meeting(b, ctx, _live_status(b))
    if meeting is None:
        return Outcome.ignored(why)
    meetings.record_payment(ctx, meeting, b.price, b.currency, b.changed_at)
    amount = f"{b.price} {b.currency or ''}".strip() if b.price is not None else "amount unknown"
    _note(ctx, prospect, meeting, f"Payment received: {amount}" + (f" – {meeting.title}" if meeting.title else ""),
          "payment")
    return Outcome.processed()


def payment_started(b: Booking, ctx: MappingContext) -> Outcome:
    """A checkout begun, not finished: the meeting is paid only with ``BOOKING_PAID``."""
    meeting, prospect, why = _meeting(b, ctx, _live_status(b))
    if meeting is None:
        return Outcome.ignored(why)
    if meeting.payment_started_at is None:
        meeting.payment_started_at = b.changed_at or ctx.received_at
    amount = f"{b.price} {b.currency or ''}".strip() if b.price is not None else "amount unknown"
    _note(ctx, prospect, meeting, f"Payment started, not completed: {amount}"
          + (f" – {meeting.title}" if meeting.title else ""), "payment_started")
    return Outcome.processed()


def recording(b: Booking, ctx: MappingContext) -> Outcome:
    if not (b.recording_url or b.transcript_url):
        return Outcome.ignored("the recording event carries no download link")
    meeting = _known(b, ctx)
    if meeting is None:
        return _unknown(b)
    lines = []
    if b.recording_url and meeting.recording_url != b.recording_url:
        meeting.recording_url = b.recording_url
        lines.append(f"{TITLE} recording ready: {b.recording_url}")
    if b.transcript_url and meeting.transcript_url != b.transcript_url:
        meeting.transcript_url = b.transcript_url
        lines.append(f"{TITLE} transcript ready: {b.transcript_url}")
    if lines:
        _note(ctx, meeting.prospect, meeting, "\n".join(lines), "recording")
    return Outcome.processed(None if lines else "links already attached")


def video_no_show(b: Booking, ctx: MappingContext, guests: bool) -> Outcome:
    """Cal Video saw nobody (guests) or not the host join: a guest no-show marks the meeting; a
    host's is a note for the team."""
    if not b.booking_id and not b.uid:
        return Outcome.ignored("the no-show event names no booking")
    meeting = _known(b, ctx)
    if meeting is None:
        return _unknown(b)
    if guests:
        meetings.set_status(ctx, meeting, MeetingStatus.NO_SHOW, b.changed_at)
        text = "Cal Video: the guest did not join"
    else:
        text = "Cal Video: the host" + (f" {b.host_no_show}" if b.host_no_show else "") + " did not join"
    _note(ctx, meeting.prospect, meeting, text + (f" ({b.message})" if b.message else ""),
          "guest_no_show" if guests else "host_no_show")
    return Outcome.processed()


def no_show(b: Booking, ctx: MappingContext) -> Outcome:
    if not b.uid:
        return Outcome.ignored("the no-show update names no booking")
    meeting = _known(b, ctx)
    if meeting is None:
        return Outcome.ignored(f"no meeting for booking {b.uid}; the no-show update carries no booking times")
    marked = any(a.no_show for a in b.attendees)
    if marked:
        meetings.set_status(ctx, meeting, MeetingStatus.NO_SHOW, b.changed_at)
    else:
        meetings.clear_no_show(ctx, meeting, b.changed_at)
    who = ", ".join(a.email for a in b.attendees if a.email and a.no_show == marked)
    text = ("Marked as no-show in Cal.com" if marked else "No-show mark removed in Cal.com") + (f": {who}" if who else "")
    _note(ctx, meeting.prospect, meeting, text, "no_show" if marked else "no_show_removed")
    return Outcome.processed()


BOOKING_HANDLERS: dict[str, Callable[[Booking, MappingContext], Outcome]] = {
    "BOOKING_CREATED": booked,
    "BOOKING_REQUESTED": lambda b, ctx: booked(b, ctx, MeetingStatus.PENDING),
    "BOOKING_RESCHEDULED": rescheduled,
    "BOOKING_CANCELLED": cancelled,
    "BOOKING_REJECTED": lambda b, ctx: cancelled(b, ctx, rejected=True),
    "MEETING_STARTED": started,
    "MEETING_ENDED": ended,
    "BOOKING_PAID": paid,
    "BOOKING_NO_SHOW_UPDATED": no_show,
    "BOOKING_PAYMENT_INITIATED": payment_started,
    "RECORDING_READY": recording,
    "RECORDING_TRANSCRIPTION_GENERATED": recording,
    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW": lambda b, ctx: video_no_show(b, ctx, guests=True),
    "AFTER_HOSTS_CAL_VIDEO_NO_SHOW": lambda b, ctx: video_no_show(b, ctx, guests=False),
}
# Triggers that are no booking: their handlers read the body itself.
BODY_HANDLERS: dict[str, Callable[[dict, MappingContext], Outcome]] = {
    "FORM_SUBMITTED": forms.submitted,
    "FORM_SUBMITTED_NO_EVENT": forms.submitted,
}
HANDLERS = {**BOOKING_HANDLERS, **BODY_HANDLERS}  # every trigger mapped (what registration subscribes to)


def map_event(body: dict, ctx: MappingContext) -> Outcome:
    trigger = body.get("triggerEvent")
    if trigger in BODY_HANDLERS:
        return BODY_HANDLERS[trigger](body, ctx)
    handler = BOOKING_HANDLERS.get(trigger)
    if handler is None:
        return Outcome.ignored(f"Cal.com trigger {trigger!r} is not mapped to prospects or meetings")
    return handler(read_booking(body), ctx)
