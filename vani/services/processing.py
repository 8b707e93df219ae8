"""Turning a stored event into domain changes, with its outcome recorded on the event."""
from __future__ import annotations

import logging
import random
from importlib import import_module
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from vani.extensions import db
from vani.models import EventStatus, WebhookEvent
from vani.models.base import utcnow
from vani.providers.registry import get_provider
from vani.services import queue
from vani.services.mapping import MappingContext

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=10)  # a "processing" event older than this was abandoned by a dead worker

# Called as ``fn(event_ids)`` after processed events were committed (fan-out, notifications).
# Each has its own sweeper, so a failing hook delays work but never loses it.
AFTER_PROCESSING_HOOKS: list[str] = [
    "vani.jobs.deliveries:after_events",
    "vani.jobs.notifications:after_events",
]


def backoff(attempts: int, jitter: bool = True) -> timedelta:
    """30 s, 1 min, 2 min … capped at 1 h, with up to 20% jitter (``VANI_RETRY_JITTER``)."""
    base = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * (1 + (random.random() * 0.2 if jitter else 0)))


def _claimable(now, force: bool):
    cond = or_(
        WebhookEvent.status.in_([EventStatus.RECEIVED, EventStatus.FAILED]),
        (WebhookEvent.status == EventStatus.PROCESSING) & (WebhookEvent.started_at < now - STUCK_AFTER),
    )
    if force:
        cond = or_(cond, WebhookEvent.status.in_([EventStatus.PROCESSED, EventStatus.IGNORED]))
    return cond


def claim_many(event_ids: list[int], force: bool = False) -> list[int]:
    """Mark events ``processing`` unless another worker has them (or they are done, unless
    forced), in one statement and one commit. Returns the ids this worker now owns."""
    if not event_ids:
        return []
    now = utcnow()
    claimed = db.session.execute(
        update(WebhookEvent).where(WebhookEvent.id.in_(event_ids), _claimable(now, force))
        .values(status=EventStatus.PROCESSING, started_at=now, attempts=WebhookEvent.attempts + 1)
        .returning(WebhookEvent.id)
        .execution_options(synchronize_session=False)).scalars().all()
    db.session.commit()
    order = {event_id: i for i, event_id in enumerate(event_ids)}
    return sorted(set(claimed), key=order.__getitem__)


def claim(event_id: int, force: bool = False) -> bool:
    return claim_many([event_id], force) == [event_id]


def process_event(event_id: int, force: bool = False) -> str | None:
    """Process one stored event. Returns its new status, or None when it was not claimable."""
    if not claim(event_id, force):
        return None
    return process_claimed(event_id)


def process_claimed(event_id: int) -> str:
    """Map an event this worker has claimed, in one transaction, and record the outcome."""
    event = db.session.get(WebhookEvent, event_id, populate_existing=True)
    if event is None:  # deleted since it was queued: nothing left to do
        db.session.rollback()
        return "missing"
    try:
        provider = get_provider(event.provider)
        ctx = MappingContext(event)
        outcome = provider.map(event, ctx)
        event.status = outcome.status
        event.outcome = outcome.reason
        event.processed_at = utcnow()
        event.next_attempt_at = None
        if ctx.prospect is not None:
            event.prospect_id = ctx.prospect.id
        if ctx.meeting is not None:
            event.meeting_id = ctx.meeting.id
        db.session.commit()
    except Exception as exc:  # a mapper bug must not lose the event: record it and retry later
        db.session.rollback()
        log.exception("processing event %s failed", event_id)
        event = db.session.get(WebhookEvent, event_id, populate_existing=True)
        event.status = EventStatus.FAILED
        event.outcome = f"{type(exc).__name__}: {exc}"[:2000]
        max_attempts = current_app.config["VANI_EVENT_MAX_ATTEMPTS"]
        jitter = current_app.config.get("VANI_RETRY_JITTER", True)
        event.next_attempt_at = (utcnow() + backoff(event.attempts, jitter)
                                 if event.attempts < max_attempts else None)
        db.session.commit()
    status = event.status
    queue.publish(queue.LIVE_CHANNEL, f"event:{event_id}")
    return status


def run_hooks(event_ids: list[int]) -> None:
    for path in AFTER_PROCESSING_HOOKS:
        module, _, name = path.partition(":")
        try:
            getattr(import_module(module), name)(event_ids)
        except Exception:  # hooks have their own sweepers
            db.session.rollback()
            log.exception("after-processing hook %s failed", path)


def due_event_ids(limit: int = 1000, grace: timedelta = timedelta(seconds=30)) -> list[int]:
    """Events a worker should take: never handed over, due for a retry, or abandoned."""
    now = utcnow()
    stmt = (select(WebhookEvent.id).where(or_(
        (WebhookEvent.status == EventStatus.RECEIVED) & (WebhookEvent.received_at < now - grace),
        (WebhookEvent.status == EventStatus.FAILED) & (WebhookEvent.next_attempt_at <= now),
        (WebhookEvent.status == EventStatus.PROCESSING) & (WebhookEvent.started_at < now - STUCK_AFTER),
    )).order_by(WebhookEvent.id).limit(limit))
    return list(db.session.execute(stmt).scalars())


def sweep(grace: timedelta = timedelta(seconds=30)) -> int:
    """Hand over every due event (the outbox sweeper). Returns how many were pushed."""
    total = 0
    while True:
        ids = due_event_ids(grace=grace)
        db.session.rollback()
        if not ids:
            return total
        if not queue.push_events(ids):
            raise RuntimeError("Redis is unreachable; events stay stored until it is back")
        total += len(ids)
        if len(ids) < 1000:
            return total
