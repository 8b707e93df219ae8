"""Operator actions on inbound events."""
from __future__ import annotations

import logging

from redis.exceptions import RedisError

from vani.services import queue

log = logging.getLogger(__name__)


def replay_event(event_id: int) -> str:
    """Process a stored event again (idempotent). Queued for a worker; inline when Redis is down.

    Returns ``"queued"`` or the event's new status after processing inline.
    """
    from vani.jobs.inbound import process_event

    if not queue.breaker_open():
        try:
            queue.get_queue(queue.QUEUE_INBOUND).enqueue(process_event, event_id, force=True, result_ttl=60)
            return "queued"
        except RedisError as exc:
            queue.trip_breaker(exc)
    log.warning("replaying event %s inline, Redis unreachable", event_id)
    return process_event(event_id, force=True) or "unchanged"
