"""Meetings that finish by the clock: completed once their end time has passed by a grace period.

Calendly never says that a meeting ended, and Cal.com says so only when ``MEETING_ENDED`` is
subscribed. A scheduled (or started) meeting whose end lies more than
``VANI_MEETING_GRACE_MINUTES`` in the past is completed here exactly as a provider's "meeting
ended" completes it (``meetings.complete``: ``meeting.completed``, its notification, the prospect
``met``), with a note saying it was completed after its end time. Cancelled, rescheduled and
no-show meetings are left alone, and so are requests a host never confirmed (``pending``); a
no-show marked later still wins. A meeting that ended more than ``VANI_MEETING_NOTIFY_HOURS`` ago
(the first run after an upgrade, or after the scheduler was down for days) is completed the same
way without a notification: the team is not told about last month's meetings at once.

The scheduler queues ``complete_ended`` every minute (``vani.jobs.maintenance.CRON``). Each
meeting is locked and its status read again before it changes, so two runs, or a run racing the
provider's own "meeting ended", complete it and raise ``meeting.completed`` once; a run that
fails is simply done again by the next one.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from vani import memo, plugins, prospects, tenancy
from vani.extensions import db
from vani.models import Meeting, MeetingStatus
from vani.models.base import as_utc, utcnow
from vani.processing.context import EventContext
from vani.processing.events import write_batch
from vani.prospects import meetings

log = logging.getLogger(__name__)

DUE = (MeetingStatus.SCHEDULED, MeetingStatus.IN_PROGRESS)
CHUNK = 50   # meetings per transaction (each row locked until it commits)
LIMIT = 500  # meetings per run; the next run goes on where this one stopped


def grace(cfg) -> timedelta:
    return timedelta(minutes=max(int(cfg.get("VANI_MEETING_GRACE_MINUTES", 15)), 0))


def notify_within(cfg) -> timedelta:
    return timedelta(hours=max(int(cfg.get("VANI_MEETING_NOTIFY_HOURS", 24)), 0))


def due(now: datetime, wait: timedelta, limit: int) -> list[tuple[int, int]]:
    """(id, org_id) of every organisation's meetings to complete, the longest ended first."""
    stmt = (select(Meeting.id, Meeting.org_id)
            .where(Meeting.status.in_(DUE), Meeting.end_at.isnot(None), Meeting.end_at <= now - wait)
            .order_by(Meeting.end_at, Meeting.id).limit(limit))
    with tenancy.everywhere():
        rows = [(row.id, row.org_id) for row in db.session.execute(stmt)]
    db.session.rollback()
    return rows


def complete_ended(now: datetime | None = None, limit: int = LIMIT) -> int:
    """Complete the meetings whose end time has passed by the grace period (at most ``limit``).
    Returns how many were completed."""
    now = now or utcnow()
    wait, recent = grace(current_app.config), now - notify_within(current_app.config)
    found = due(now, wait, limit)
    completed = 0
    for start in range(0, len(found), CHUNK):
        with memo.batch():  # each organisation's time zone read once per chunk
            done = [ctx for meeting_id, org_id in found[start:start + CHUNK]
                    if (ctx := _complete_one(meeting_id, org_id, now, wait, recent)) is not None]
        write_batch(done, now)  # the outbound events, notes and notifications, as an event's batch
        db.session.commit()
        completed += len(done)
    if completed:
        log.info("completed %d meeting(s) whose end time had passed", completed)
    return completed


def _complete_one(meeting_id: int, org_id: int, now: datetime, wait: timedelta,
                  recent: datetime) -> EventContext | None:
    """Complete one meeting (locked; skipped when a worker holds it now, the next run sees it
    again) in its own savepoint: what it emitted, or None when nothing changed. The team is told
    only when it ended after ``recent``."""
    with tenancy.acting_for(org_id):
        try:
            with db.session.begin_nested():
                meeting = db.session.execute(
                    select(Meeting).where(Meeting.id == meeting_id, Meeting.status.in_(DUE),
                                          Meeting.end_at <= now - wait)
                    .with_for_update(skip_locked=True).execution_options(populate_existing=True)
                ).scalar_one_or_none()
                if meeting is None:  # changed meanwhile (cancelled, completed, no-show), or locked
                    return None
                ctx = EventContext.on_its_own(org_id, meeting.provider, f"ended:{meeting.id}", now)
                ctx.focus(meeting)
                if not meetings.complete(ctx, meeting, tell=as_utc(meeting.end_at) >= recent):
                    return None
                _note(ctx, meeting)
                db.session.flush()
            return ctx
        except Exception:  # one meeting's bad data must not hold the others back
            log.exception("meeting %s could not be completed after its end time", meeting_id)
            db.session.expire_all()  # rows the savepoint undid may still sit in the identity map
            return None


def _note(ctx: EventContext, meeting: Meeting) -> None:
    prospect = meeting.prospect
    if prospect is None:
        return
    ctx.use_prospect(prospect)
    title = _provider_title(meeting.provider)
    text = f"{title} meeting completed after its end time ({meetings.describe_time(meeting.end_at)})"
    if meeting.title:
        text += f" – {meeting.title}"
    prospects.add_note(ctx, prospect, text, "completed", meeting)


def _provider_title(name: str) -> str:
    try:
        return plugins.installed().get(name).title or name
    except KeyError:  # a provider no longer installed
        return name
