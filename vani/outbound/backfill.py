"""Backfills: "send every event since T that matches this subscription" (the ``backfills`` lane).

Starting one fixes its range: the organisation's outbound events from ``since`` up to the newest
one now (later events fan out by themselves). A worker walks that range in chunks, in event
order, and makes each matching event's delivery unless the subscription already has one (the
unique (event, subscription) pair: a backfill run twice sends nothing twice). Progress is
written after every chunk, fenced by the claim, so a worker that dies loses at most a chunk's
work and the next one continues from the cursor. A backfill that has spent its time budget hands
itself back and continues in a fresh claim. ``run_here`` walks one in the calling process
(``flask vani deliveries backfill``), showing its progress.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from vani import tenancy, work
from vani.errors import Conflict, InvalidField, NotFound
from vani.extensions import db
from vani.models import Backfill, BackfillStatus, OutboundEvent, WebhookSubscription
from vani.models.base import utcnow
from vani.outbound.fanout import delivery_rows, insert_deliveries
from vani.outbound.subscriptions import get_subscription
from vani.work import effects

CHUNK = 500             # events looked at per statement
BUDGET_SECONDS = 20.0   # then the claim is handed back and continued


def policy(cfg: Mapping) -> work.RetryPolicy:
    return work.RetryPolicy.doubling(timedelta(seconds=10), timedelta(minutes=10), attempts=6)


def start(subscription_id: int, since: datetime, now: datetime | None = None) -> Backfill:
    """Queue a backfill of this subscription from ``since`` and commit. Conflict when the
    subscription is disabled; InvalidField when ``since`` is in the future."""
    now = now or utcnow()
    sub = get_subscription(subscription_id)
    if not sub.active:
        raise Conflict(f"subscription {sub.id} is disabled; enable it before a backfill")
    if since > now:
        raise InvalidField("since", "must not be in the future")
    t = OutboundEvent.__table__
    first, last, total = db.session.execute(
        select(func.min(t.c.id), func.max(t.c.id), func.count()).where(t.c.org_id == sub.org_id, t.c.created_at >= since)
    ).one()
    done = not total
    backfill = Backfill(org_id=sub.org_id, subscription_id=sub.id, since=since, cursor=(first or 1) - 1,
                        last_event_id=last or 0, total=total, scanned=0, created=0, attempts=0,
                        status=BackfillStatus.DONE if done else BackfillStatus.PENDING,
                        next_attempt_at=None if done else now, finished_at=now if done else None)
    db.session.add(backfill)
    if not done:
        effects.wake(BACKFILLS)
    db.session.commit()
    return backfill


def get(subscription_id: int, backfill_id: int) -> Backfill:
    found = db.session.get(Backfill, backfill_id)
    if found is None or found.subscription_id != subscription_id:
        raise NotFound(f"no backfill {backfill_id} of subscription {subscription_id}")
    return found


def recent(subscription_id: int, limit: int = 20) -> list[Backfill]:
    return list(db.session.execute(select(Backfill).where(Backfill.subscription_id == subscription_id)
                                   .order_by(Backfill.id.desc()).limit(limit)).scalars())


def _chunk(org_id: int, since: datetime, after: int, last: int) -> list[dict]:
    t = OutboundEvent.__table__
    rows = db.session.execute(
        select(t.c.id, t.c.org_id, t.c.msg_id, t.c.type, t.c.data, t.c.created_at)
        .where(t.c.org_id == org_id, t.c.id > after, t.c.id <= last, t.c.created_at >= since)
        .order_by(t.c.id).limit(CHUNK))
    return [dict(r._mapping) for r in rows]


def run(claim: work.Claim, backfill_id: int, progress: Callable[[str, int, int], None] | None = None) -> None:
    """Walk one claimed backfill until it is done or its time budget is spent, telling
    ``progress("events", scanned, total)`` after each chunk."""
    b = db.session.get(Backfill, backfill_id, populate_existing=True)
    if b is None:
        return
    sub = db.session.get(WebhookSubscription, b.subscription_id)
    if sub is None or not sub.active:
        claim.write([(b.id, BackfillStatus.DEAD, {"last_error": "the subscription was disabled or deleted",
                                                   "next_attempt_at": None, "finished_at": utcnow()})])
        db.session.commit()
        return
    started = time.monotonic()
    # Plain values: the row is only ever written through the claim (fenced), never flushed.
    org_id, since, last, total = b.org_id, b.since, b.last_event_id, b.total
    cursor, scanned, created = b.cursor, b.scanned, b.created
    db.session.expunge(b)
    while True:
        events = _chunk(org_id, since, cursor, last)
        if not events:
            claim.write([(backfill_id, BackfillStatus.DONE, {"next_attempt_at": None, "last_error": None,
                                                             "finished_at": utcnow(), "scanned": total})])
            db.session.commit()
            return
        now = utcnow()
        made = insert_deliveries([row for event in events for row in delivery_rows(event, [sub], now)])
        cursor, scanned, created = events[-1]["id"], scanned + len(events), created + len(made)
        moved = db.session.execute(update(Backfill).where(Backfill.id == backfill_id, Backfill.lease_token == claim.token)
                                   .values(cursor=cursor, scanned=min(scanned, total), created=created)).rowcount
        db.session.commit()  # wakes the deliveries it made
        if not moved:  # the lease was lost: another worker continues from the cursor
            claim.settled[backfill_id] = None
            return
        if progress:
            progress("events", min(scanned, total), total)
        claim.renew()
        if time.monotonic() - started > BUDGET_SECONDS:
            effects.wake(BACKFILLS)  # a fresh job continues once the release is committed
            claim.release([backfill_id])
            return


def run_here(backfill_id: int, progress: Callable[[str, int, int], None] | None = None,
             pause: Callable[[float], None] = time.sleep) -> Backfill:
    """Walk the backfill in this process until it is done, dead, or failed and waiting for its
    retry (which a worker does); while a worker holds it, follow the worker's progress. Returns it."""
    lane = dataclasses.replace(BACKFILLS, handler=work.one_by_one(functools.partial(run, progress=progress)))
    ran = True
    while True:
        with tenancy.everywhere():
            b = db.session.get(Backfill, backfill_id, populate_existing=True)
        if progress:
            progress("events", min(b.scanned or 0, b.total or 0), b.total or 0)
        if b.status in (BackfillStatus.DONE, BackfillStatus.DEAD, BackfillStatus.FAILED):
            return b
        if not ran:  # a worker has it, or it is not due yet
            db.session.rollback()
            pause(1.0)
        with tenancy.acting_for(None):  # as a worker does: the handler puts its organisation in force
            ran = bool(work.run_inline(lane, [backfill_id]))


BACKFILLS = work.Lane(
    name="backfills", model=Backfill,
    ready=(BackfillStatus.PENDING, BackfillStatus.FAILED), running=BackfillStatus.RUNNING,
    retry=BackfillStatus.FAILED, dead=BackfillStatus.DEAD,
    handler=work.one_by_one(run), policy=policy, lease=lambda cfg: timedelta(seconds=60), batch=5, parallel=1,
)
