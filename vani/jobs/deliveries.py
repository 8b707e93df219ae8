"""Jobs for outbound webhooks: fan-out after processing, the delivery loop, the minute sweep."""
from __future__ import annotations

import logging
from datetime import datetime

from vani.models.base import utcnow
from vani.services.webhooks import dispatch, fanout, recovery, worker

log = logging.getLogger(__name__)


def after_events(event_ids: list[int]) -> int:
    """After-processing hook: fan out the outbox rows the events wrote and wake the delivery
    workers. Returns how many deliveries were created."""
    created = fanout.fan_out()
    if created:
        dispatch.kick()
    return len(created)


def deliver_due() -> int:
    """The RQ job: deliver everything due, in batches, then schedule a wake-up for retries due
    within the next minute (later ones wait for the sweep). Returns deliveries attempted."""
    total = worker.run_due()
    dispatch.release_kick()
    soonest = recovery.soonest_due()
    if soonest is not None:
        wait = (soonest - utcnow()).total_seconds()
        if wait <= 0:
            dispatch.kick()  # more became due meanwhile (or the time budget ran out)
        else:
            dispatch.schedule_wake(wait)
    return total


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Every minute: fan out what was missed, take back expired leases, cancel deliveries of
    disabled subscriptions, and wake the workers if anything is due. ``now`` is for tests."""
    now = now or utcnow()
    fanned = len(fanout.fan_out(now=now))
    lost = len(recovery.requeue_expired(now=now))
    cancelled = recovery.cancel_orphans()
    soonest = recovery.soonest_due()
    due = soonest is not None and soonest <= now
    if due:
        dispatch.kick()
    counts = {"fanned_out": fanned, "requeued": lost, "cancelled": cancelled, "due": int(due)}
    if fanned or lost or cancelled:
        log.info("delivery sweep: %s", counts)
    return counts
