"""The ``events`` lane: a claim of stored events mapped in one transaction.

The batch is first mapped straight through; if any event fails, that work is rolled back and
the batch is mapped again with a savepoint per event, so one event's failure never undoes
another's (and the common, all-good batch pays for no savepoints). Before the first pass the
prospects and meetings the events name are read in one query each, and the new ones are inserted
together at its end (``vani.prospects.known``); the second pass inserts each event's own. The
rows the batch's events emit (outbound events and their deliveries, notes, notifications and
their sends) are written together at the end, and every event's
outcome (processed, ignored with the reason, or failed and retried by the policy) is written
fenced by the claim's token. One commit per claim; the wake-ups and live updates the batch
records go out after it (``vani.work.effects``), and a failed event's savepoint takes its own
with it.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from vani import memo, metrics, plugins, prospects, tenancy, tracing, work
from vani.extensions import db
from vani.models import EventStatus, RollupMetric, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.notifications import moments
from vani.outbound import fanout, outbox
from vani.processing.context import EventContext
from vani.prospects import known, qualification
from vani.work import effects, rollups

log = logging.getLogger(__name__)

REPLAYABLE = (EventStatus.RECEIVED, EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED, EventStatus.DEAD)


def policy(cfg: Mapping) -> work.RetryPolicy:
    """30 s, 1 min, 2 min … at most 1 h between attempts, ``VANI_EVENT_MAX_ATTEMPTS`` in all."""
    return work.RetryPolicy.doubling(timedelta(seconds=30), timedelta(hours=1),
                                     int(cfg.get("VANI_EVENT_MAX_ATTEMPTS", 8)),
                                     0.1 if cfg.get("VANI_RETRY_JITTER", True) else 0.0)


def describe(exc: BaseException) -> str:
    """What went wrong, for the event's outcome: never the SQL parameters (they hold payload data)."""
    if isinstance(exc, DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
        return f"{type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__}: {first}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


class _Isolate(Exception):
    """An event failed in a batch mapped without savepoints: map it again, one savepoint each."""


def map_one(event: WebhookEvent, ctx: EventContext, isolated: bool):
    """Map one event for its organisation (in its own savepoint when ``isolated``); the
    provider's outcome, or raises."""
    with tenancy.acting_for(event.org_id):
        if not isolated:  # its new rows are flushed with the batch's
            return plugins.installed().get(event.provider).map(event, ctx)
        with db.session.begin_nested():
            outcome = plugins.installed().get(event.provider).map(event, ctx)
            db.session.flush()
        return outcome


def process_claim(claim: work.Claim) -> None:
    """The lane's handler. What the batch's events look up again and again (their
    organisation's time zone, their hosts) is read once for the claim (``memo``)."""
    now = utcnow()
    with memo.batch():
        try:
            process_batch(claim, now, isolated=False)
        except _Isolate:
            db.session.rollback()
            process_batch(claim, now, isolated=True)


def process_batch(claim: work.Claim, now, isolated: bool) -> None:
    held = claim.own()
    events = db.session.execute(select(WebhookEvent).where(WebhookEvent.id.in_(held))  # every organisation's
                                .order_by(WebhookEvent.id).execution_options(unscoped=True)).scalars().all()
    if isolated:
        known.forget()  # what the first pass read or added was rolled back
    else:
        try:
            read_named(events)
        except DBAPIError as exc:  # a deadlock on the meetings it locks, say: each event on its own
            raise _Isolate() from exc
    done: list[EventContext] = []
    outcomes: list[tuple] = []
    for event in events:
        ctx = EventContext(event)
        try:
            with tracing.bound(event.request_id):
                outcome = map_one(event, ctx, isolated)
                log.info("event %s (%s %s): %s%s", event.id, event.provider, event.event_type, outcome.status,
                         f" ({outcome.reason})" if outcome.reason else "")
        except Exception as exc:  # a mapper bug or bad data must not lose the event
            if not isolated:
                raise _Isolate() from exc
            with tracing.bound(event.request_id):
                log.exception("processing event %s failed", event.id)
            db.session.expire_all()  # rows the savepoint undid may still sit in the identity map
            status, columns = claim.failure(event.id, describe(exc), now=now)
            outcomes.append((event.id, status, {**columns, "processed_at": None}))
            continue
        done.append(ctx)
        outcomes.append((event.id, outcome.status, {
            "outcome": outcome.reason, "processed_at": now, "next_attempt_at": None,
            "prospect_id": ctx.prospect.id if ctx.prospect is not None else event.prospect_id,
            "meeting_id": ctx.meeting.id if ctx.meeting is not None else event.meeting_id,
            "subject_email": ctx.subject_email, "subject_ref": ctx.subject_ref}))
    if not isolated:
        try:
            db.session.flush()  # the batch's new prospects and meetings, a multi-row INSERT each
        except Exception as exc:  # one of them taken by another worker meanwhile, say
            raise _Isolate() from exc
    write_batch(done, now)  # its new deliveries and sends wake their lanes once committed
    claim.write(outcomes)
    org_of = {event.id: event.org_id for event in events}
    for event_id, _, _ in outcomes:
        effects.publish(org_of[event_id], f"event:{event_id}")
    lags = [(now - as_utc(ctx.event.received_at)).total_seconds() for ctx in done]
    db.session.commit()
    metrics.processed(lags)


def read_named(events: list[WebhookEvent]) -> None:
    """Read the prospects and meetings the batch's events name, one query each (``known``)."""
    installed = plugins.installed()
    prospect_keys: set = set()
    meeting_keys: set = set()
    for event in events:
        provider = installed.get(event.provider)
        if provider is None:
            continue
        try:
            emails, refs = provider.names(event)
        except Exception:  # bad data: its mapping says what is wrong, as its outcome
            log.debug("event %s names no rows to read ahead", event.id, exc_info=True)
            continue
        prospect_keys.update(known.prospect_key(event.org_id, email) for email in emails)
        meeting_keys.update(known.meeting_key(event.org_id, event.provider, ref) for ref in refs)
    known.load(prospect_keys, meeting_keys)


def write_batch(done: list[EventContext], now) -> tuple[list[int], list[int]]:
    """Write what the batch's successful events emitted; (new delivery ids, new send ids)."""
    emitted = outbox.write([dict(row, org_id=ctx.org_id, request_id=ctx.request_id)
                            for ctx in done for row in ctx.outbox], now)
    deliveries = fanout.fan_out(emitted, now)
    prospects.write_notes([dict(row, org_id=ctx.org_id) for ctx in done for row in ctx.notes])
    qualification.write_stage_changes([dict(row, org_id=ctx.org_id) for ctx in done for row in ctx.stage_changes])
    sends = moments.write([dict(row, org_id=ctx.org_id, request_id=ctx.request_id)
                           for ctx in done for row in ctx.notifications], now)
    rollups.move(RollupMetric.PROSPECT_STAGE,  # the funnel's gauge: prospects per stage now
                 [(ctx.org_id, before, after) for ctx in done for before, after in ctx.stage_moves])
    for ctx in done:  # the prospect, meeting and notifications pages the change touched, live
        topics = [f"{kind}:{row.id}" for kind, row in (("prospect", ctx.prospect), ("meeting", ctx.meeting)) if row]
        effects.publish(ctx.org_id, *topics, *(["notification:new"] if ctx.notifications else []))
    return deliveries, sends


def count_settled(claim: work.Claim, written: list[tuple[int, EventStatus]]) -> None:
    """The lane's ``on_settle``: each outcome per provider and hour, and how long events settled
    at their first attempt waited since receipt (replays and retries would skew the lag)."""
    now = utcnow()
    states = dict(written)
    tally = rollups.Tally()
    rows = db.session.execute(select(WebhookEvent.id, WebhookEvent.org_id, WebhookEvent.provider,
                                     WebhookEvent.received_at).where(WebhookEvent.id.in_(list(states)))
                              .execution_options(unscoped=True))
    for event_id, org_id, provider, received_at in rows:
        status = states[event_id]
        tally.count(org_id, now, RollupMetric.EVENTS, f"{provider}:{status}")
        if status in (EventStatus.PROCESSED, EventStatus.IGNORED) and claim.attempts.get(event_id) == 1:
            tally.observe(org_id, now, RollupMetric.EVENT_LAG, (now - as_utc(received_at)).total_seconds())
    rollups.add(tally)


EVENTS = work.Lane(
    name="events", model=WebhookEvent,
    ready=(EventStatus.RECEIVED, EventStatus.FAILED), running=EventStatus.PROCESSING,
    retry=EventStatus.FAILED, dead=EventStatus.DEAD,
    handler=process_claim, policy=policy, lease=lambda cfg: timedelta(seconds=15), batch=200,
    error_column="outcome", claim_values=lambda now: {"started_at": now}, on_settle=count_settled,
)


def wake() -> bool:
    """Have a worker look at the stored events now (False: none can be reached)."""
    return work.kick(EVENTS)


def _requeue(event_id: int) -> bool:
    """Make a finished (or waiting) event due again now (its attempts keep counting)."""
    result = db.session.execute(  # scoped: only the organisation in force's events
        update(WebhookEvent).where(WebhookEvent.id == event_id, WebhookEvent.status.in_(REPLAYABLE))
        .values(status=EventStatus.RECEIVED, next_attempt_at=utcnow()))
    db.session.commit()
    return bool(result.rowcount)


def _status(event_id: int) -> str:
    event = db.session.get(WebhookEvent, event_id, populate_existing=True)
    return str(event.status) if event is not None else "missing"


def replay(event_id: int) -> str:
    """Process a stored event again (idempotent): queued for a worker, or run here and now when
    no worker can be reached. Returns ``"queued"`` or the event's new status."""
    if not _requeue(event_id):
        return _status(event_id)
    if wake():
        return "queued"
    log.warning("replaying event %s here, no worker can be reached", event_id)
    work.run_inline(EVENTS, [event_id])
    return _status(event_id)


def reprocess(event_id: int) -> str:
    """Process a stored event again here and now (``flask vani replay``). Returns its status."""
    if _requeue(event_id):
        work.run_inline(EVENTS, [event_id])
    return _status(event_id)
