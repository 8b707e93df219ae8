"""Calendly events → prospects, meetings, notes, payments (see ``vani.prospects.meetings``), the
booking form's answers, source and host (``vani.prospects.qualification``) and routing form leads
(``vani.prospects.leads``).

The meeting's provider id is the invitee URI: one meeting per invitee, also for group events.
"""
from __future__ import annotations

from typing import Callable

from vani import prospects
from vani.models import MeetingStatus, Prospect
from vani.payloads.coerce import as_time as parse_time
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext as MappingContext
from vani.prospects import leads, meetings, qualification
from vani.prospects.meetings import describe_time, headline
from vani.providers.calendly.shapes import Invitee, no_show_invitee, read_invitee, read_submission

TITLE = "Calendly"
FORM_NAME = "Calendly routing form"


def _prospect(inv: Invitee, ctx: MappingContext, booked: bool = False) -> Prospect | None:
    if not inv.email and not inv.phone:
        return None
    return prospects.upsert(ctx, email=inv.email, name=inv.name, phone=inv.phone, timezone=inv.timezone,
                            source="calendly",
                            initial=qualification.prospect_fields(booked, inv.utm, inv.host_email))


def invitee_created(body: dict, ctx: MappingContext) -> Outcome:
    inv = read_invitee(body)
    if not inv.uri:
        return Outcome.ignored("the invitee has no uri to identify the meeting")
    prospect = _prospect(inv, ctx, booked=True)
    prospect_id = prospect.id if prospect else None
    replaces_id = None
    if inv.old_invitee and inv.old_invitee != inv.uri:
        # A reschedule: the old invitee's meeting is over. It may be unknown yet (its cancel can
        # arrive later); a minimal row keeps the link, and that cancel fills in the rest.
        old = meetings.upsert(ctx, inv.old_invitee, MeetingStatus.RESCHEDULED, inv.created_at,
                                 prospect_id=prospect_id)
        replaces_id = old.id
    # A cancel processed first created this meeting already cancelled; scheduling never reopens it.
    meeting = meetings.upsert(ctx, inv.uri, MeetingStatus.SCHEDULED, inv.created_at,
                                 replaces_id=replaces_id, **inv.meeting_fields(prospect_id),
                                 **qualification.insert_fields(inv.answers, inv.utm, inv.host_email))
    ctx.focus(meeting)
    qualification.apply(ctx, meeting, answers=inv.answers, utm=inv.utm, host_email=inv.host_email)
    if prospect:
        prospects.add_note(ctx, prospect, headline(TITLE, "scheduled", meeting.start_at, meeting.title), "scheduled",
                     meeting)
    if inv.payment:
        meetings.record_payment(ctx, meeting, inv.payment.amount, inv.payment.currency, inv.created_at,
                           {"provider_payment": {"provider": inv.payment.provider,
                                                 "external_id": inv.payment.external_id}})
        if prospect and inv.payment.amount is not None:
            prospects.add_note(ctx, prospect, f"Payment received: {inv.payment.amount} {inv.payment.currency or ''}".rstrip()
                         + (f" – {meeting.title}" if meeting.title else ""), "payment", meeting)
    return Outcome.processed()


def invitee_canceled(body: dict, ctx: MappingContext) -> Outcome:
    inv = read_invitee(body)
    if not inv.uri:
        return Outcome.ignored("the invitee has no uri to identify the meeting")
    prospect = _prospect(inv, ctx)
    status = MeetingStatus.RESCHEDULED if inv.rescheduled else MeetingStatus.CANCELLED
    # Created here when the cancel is processed before its create: the late create cannot undo it.
    meeting = meetings.upsert(ctx, inv.uri, status, inv.canceled_at, reason=inv.cancel_reason,
                                 **inv.meeting_fields(prospect.id if prospect else None))
    # A cancel processed before its create carries the same booking form and host.
    qualification.apply(ctx, meeting, answers=inv.answers, utm=inv.utm, host_email=inv.host_email)
    if prospect:
        verb = "rescheduled" if inv.rescheduled else "cancelled"
        when = f" for {describe_time(meeting.start_at)}" if meeting.start_at is not None else ""
        text = f"{TITLE} meeting{when} {verb}"
        if meeting.title:
            text += f" – {meeting.title}"
        if inv.canceled_by:
            text += f" (by {inv.canceled_by})"
        if inv.cancel_reason:
            text += f"; reason: {inv.cancel_reason}"
        prospects.add_note(ctx, prospect, text, verb, meeting)
    return Outcome.processed()


def _no_show(body: dict, ctx: MappingContext, marked: bool) -> Outcome:
    ref = no_show_invitee(body)
    if not ref:
        return Outcome.ignored("the no-show names no invitee")
    # The webhook's own time orders marks and unmarks (the payload's created_at is the mark's).
    changed_at = parse_time(body.get("created_at")) or parse_time((body.get("payload") or {}).get("created_at"))
    if marked:
        # An unknown invitee gets a minimal meeting so the mark is kept; its create fills it in.
        meeting = meetings.upsert(ctx, ref, MeetingStatus.NO_SHOW, changed_at)
    else:
        meeting = meetings.get("calendly", ref)
        if meeting is None:
            return Outcome.ignored(f"no meeting for invitee {ref}; nothing to unmark")
        ctx.focus(meeting)
        meetings.clear_no_show(ctx, meeting, changed_at)
    prospect = meeting.prospect
    if prospect is not None:
        ctx.use_prospect(prospect)
        text = "Marked as no-show in Calendly" if marked else "No-show mark removed in Calendly"
        prospects.add_note(ctx, prospect, text + (f" – {meeting.title}" if meeting.title else ""),
                     "no_show" if marked else "no_show_removed", meeting)
    return Outcome.processed()


def routing_form_submitted(body: dict, ctx: MappingContext) -> Outcome:
    """A routing form was submitted (booked or not): a lead, once per submission."""
    sub = read_submission(body)
    if not sub.uri:
        return Outcome.ignored("the routing form submission has no uri")
    return leads.record(ctx, sub.uri, answers=sub.answers, email=sub.email, name=sub.name, phone=sub.phone,
                        form_ref=sub.form_ref, form_name=FORM_NAME, utm=sub.utm)


HANDLERS: dict[str, Callable[[dict, MappingContext], Outcome]] = {
    "invitee.created": invitee_created,
    "invitee.canceled": invitee_canceled,
    "invitee_no_show.created": lambda body, ctx: _no_show(body, ctx, True),
    "invitee_no_show.deleted": lambda body, ctx: _no_show(body, ctx, False),
    "routing_form_submission.created": routing_form_submitted,
}


def names(body: dict) -> tuple[list[str], list[str]]:
    """The prospect's email (a booking's, with no phone to look it up by) and the invitees'
    URIs an event is about (see ``Provider.names``)."""
    event = body.get("event")
    if event in ("invitee.created", "invitee.canceled"):
        inv = read_invitee(body)
        return [inv.email] if inv.email and not inv.phone else [], [ref for ref in (inv.uri, inv.old_invitee) if ref]
    if event == "invitee_no_show.created":
        ref = no_show_invitee(body)
        return [], [ref] if ref else []
    return [], []


def map_event(body: dict, ctx: MappingContext) -> Outcome:
    handler = HANDLERS.get(body.get("event"))
    if handler is None:
        return Outcome.ignored(f"Calendly event {body.get('event')!r} is not mapped to prospects or meetings")
    return handler(body, ctx)
