"""What a booking says about its prospect: the answers to the booking form, the UTM source, the
host (the meeting's owner), and the prospect's lifecycle stage.

Everything here runs inside the inbound event's transaction and is idempotent: answers and
sources fill what is empty (a replay changes nothing), the prospect's first touch is kept, and
the stage only moves forward (``lead`` → ``booked`` → ``met`` / ``no_show`` → ``paid``); only a
cancel with no other live meeting takes ``booked`` back to ``lead``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import g, has_request_context
from sqlalchemy import func, insert, select

from vani import memo, tenancy
from vani.extensions import db
from vani.models import (
    EventType, Meeting, MeetingStatus, Membership, Prospect, ProspectStage, ProspectStageChange, User,
)
from vani.outbound import outbox
from vani.payloads.safejson import clean_text
from vani.processing.context import EventContext

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
LIVE = (MeetingStatus.SCHEDULED, MeetingStatus.PENDING, MeetingStatus.IN_PROGRESS)
MAX_ANSWERS = 100


def _text(value, limit: int) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool))
    if not isinstance(value, str):
        return None
    value = clean_text(value).strip()
    return value[:limit] or None


def answers_from(pairs: Iterable[tuple[object, object]]) -> list[dict]:
    """``[{"question", "answer"}]`` from (question, answer) pairs, empty answers left out."""
    out = []
    for question, answer in pairs:
        q, a = _text(question, 500), _text(answer, 4000)
        if q and a:
            out.append({"question": q, "answer": a})
        if len(out) >= MAX_ANSWERS:
            break
    return out


def utm_from(values: Mapping | None) -> dict:
    """The UTM fields present in ``values`` (``utm_source`` … or Calendly's bare ``source`` …)."""
    if not isinstance(values, Mapping):
        return {}
    out = {}
    for name in UTM_FIELDS:
        value = _text(values.get(name, values.get(name.removeprefix("utm_"))), 255)
        if value:
            out[name] = value
    return out


def member_for(email: str | None) -> int | None:
    """The id of the organisation's member with this email (the organisation in force); looked
    up once per request or batch of events (hosts repeat), afresh elsewhere."""
    if not email:
        return None
    key = (tenancy.require(), email.strip().lower())
    known = g.setdefault("member_for", {}) if has_request_context() else memo.table("member_for")
    if known is not None and key in known:
        return known[key]
    found = db.session.execute(select(User.id).join(Membership, Membership.user_id == User.id).where(
        Membership.org_id == key[0], func.lower(User.email) == key[1])).scalar()
    if known is not None:
        known[key] = found
    return found


def first_touch(prospect: Prospect | None, utm: dict) -> None:
    if prospect is not None and utm and not prospect.utm:
        prospect.utm, prospect.utm_source = utm, utm.get("utm_source")


def owner_fields(host_email: str | None) -> dict:
    """``owner_email`` and ``owner_id`` (the member with that address, if any) for a host."""
    host = _text(host_email, 320)
    return {"owner_email": host.lower(), "owner_id": member_for(host)} if host else {}


def prospect_fields(booked: bool, utm: dict | None = None, host_email: str | None = None) -> dict:
    """What a booking tells about a prospect it creates: its stage, first touch and owner."""
    fields: dict = {"stage": ProspectStage.BOOKED} if booked else {}
    if utm:
        fields["utm"], fields["utm_source"] = utm, utm.get("utm_source")
    return {**fields, **owner_fields(host_email)}


def insert_fields(answers: list[dict] | None = None, utm: dict | None = None,
                  host_email: str | None = None) -> dict:
    """The same values as meeting columns, to write with a new meeting's INSERT (one statement,
    not an INSERT and an UPDATE); ``apply`` then finds them there."""
    fields: dict = {}
    if answers:
        fields["answers"] = answers
    if utm:
        fields["utm"] = utm
    return {**fields, **owner_fields(host_email)}


def apply(ctx: EventContext, meeting: Meeting, *, answers: list[dict] | None = None, utm: dict | None = None,
          host_email: str | None = None) -> None:
    """Fill the meeting's answers, source and owner from its booking (what it lacks only), and
    the prospect's first touch and owner."""
    if answers and not meeting.answers:
        meeting.answers = answers
    if utm and not meeting.utm:
        meeting.utm = utm
    owner = owner_fields(host_email)
    if owner and not meeting.owner_email:
        meeting.owner_email, meeting.owner_id = owner["owner_email"], owner["owner_id"]
    prospect = meeting.prospect
    first_touch(prospect, utm or {})
    if prospect is None or prospect.owner_set_by_hand or not meeting.owner_email:
        return
    if prospect.owner_email is None:  # the usual case: the first meeting names the owner
        prospect.owner_email, prospect.owner_id = meeting.owner_email, meeting.owner_id
        return
    if (prospect.owner_email, prospect.owner_id) == (meeting.owner_email, meeting.owner_id):
        return  # the same host: nothing to decide
    first = db.session.execute(select(Meeting).where(
        Meeting.prospect_id == prospect.id, Meeting.owner_email.isnot(None))
        .order_by(Meeting.start_at.nulls_last(), Meeting.id).limit(1)).scalar_one_or_none()
    if first is not None and (prospect.owner_email, prospect.owner_id) != (first.owner_email, first.owner_id):
        prospect.owner_email, prospect.owner_id = first.owner_email, first.owner_id


def advance(ctx: EventContext, prospect: Prospect | None, stage: ProspectStage) -> bool:
    """Move the prospect's stage forward (a no-show after "met" wins; nothing moves back)."""
    if prospect is None:
        return False
    current = ProspectStage(prospect.stage or ProspectStage.LEAD)
    forward = stage.rank > current.rank or (stage == ProspectStage.NO_SHOW and current == ProspectStage.MET)
    if not forward:
        return False
    return _set(ctx, prospect, stage)


def after_cancel(ctx: EventContext, prospect: Prospect | None) -> bool:
    """A cancelled booking: back to ``lead`` when nothing else is booked."""
    if prospect is None or prospect.stage != ProspectStage.BOOKED:
        return False
    live = db.session.execute(select(func.count()).select_from(Meeting).where(
        Meeting.prospect_id == prospect.id, Meeting.status.in_(LIVE))).scalar_one()
    return False if live else _set(ctx, prospect, ProspectStage.LEAD)


def _set(ctx: EventContext, prospect: Prospect, stage: ProspectStage) -> bool:
    """Change the stage and tell subscribers: a prospect this event created carries its stage in
    its ``prospect.created``; any other gets a ``prospect.updated``."""
    before = prospect.stage
    prospect.stage = stage
    record_stage(ctx, prospect, before, stage)
    created = [row for row in ctx.outbox
               if row["type"] == EventType.PROSPECT_CREATED and row["data"].get("id") == prospect.id]
    for row in created:
        row["data"] = {**row["data"], "stage": stage}
    if not created:
        outbox.emit_keyed(ctx, EventType.PROSPECT_UPDATED, {**prospect.to_dict(), "previous_stage": before},
                          f"prospect.stage:{prospect.id}:{before}:{stage}:{ctx.origin}")
    return True


def record_stage(ctx: EventContext, prospect: Prospect, before: ProspectStage | None, stage: ProspectStage) -> None:
    """Count the move for the funnel and keep it on the prospect's timeline, both written with
    the batch (``before`` None: created at ``stage``; a new lead is no move to show)."""
    ctx.stage_moves.append((before, stage))
    if before is None and stage == ProspectStage.LEAD:
        return
    ctx.stage_changes.append({"prospect_id": prospect.id, "from_stage": before, "to_stage": stage,
                              "event_id": ctx.event_id, "created_at": ctx.received_at})


def write_stage_changes(rows: list[dict]) -> None:
    """Insert a batch's stage changes (each names its ``org_id``) in one statement."""
    if rows:
        db.session.execute(insert(ProspectStageChange.__table__), rows)
