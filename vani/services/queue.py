"""Handing work to the workers through Redis.

Inbound events are not one RQ job each: their ids go on a Redis list and one ``drain`` job
takes them in batches. The request does one pipelined round trip (push id, set the kick flag);
only when no drain job is pending does it enqueue one. If Redis cannot be reached the event
stays ``received`` in the database and ``sweep`` hands it over later (the outbox pattern).
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue

from vani.extensions import redis_ext

log = logging.getLogger(__name__)

INBOUND_LIST = "vani:inbound:pending"
INBOUND_KICK = "vani:inbound:kick"
KICK_TTL = 300  # a drain job that died cannot block new ones for longer than this

LIVE_CHANNEL = "vani:live"  # dashboard live updates: "event:<id>", "delivery:<id>"

QUEUE_INBOUND = "vani-inbound"
QUEUE_DELIVERIES = "vani-deliveries"
QUEUE_NOTIFICATIONS = "vani-notifications"
QUEUE_MAINTENANCE = "vani-maintenance"
ALL_QUEUES = (QUEUE_INBOUND, QUEUE_DELIVERIES, QUEUE_NOTIFICATIONS, QUEUE_MAINTENANCE)

# After a failure, skip Redis for a moment so a dead Redis does not slow every request.
_BREAKER_SECONDS = 2.0
_redis_down_until = 0.0


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_ext.client, is_async=current_app.config.get("RQ_ASYNC", True))


def breaker_open() -> bool:
    """True for a moment after Redis failed: callers skip Redis and leave the work to the sweepers."""
    return time.monotonic() < _redis_down_until


def trip_breaker(exc: Exception) -> None:
    """Record a Redis failure: Redis is skipped for ``_BREAKER_SECONDS``."""
    global _redis_down_until
    _redis_down_until = time.monotonic() + _BREAKER_SECONDS
    log.warning("redis unreachable, work stays in the database for the sweeper: %s", exc)


def reset_breaker() -> None:
    global _redis_down_until
    _redis_down_until = 0.0


def push_events(event_ids: list[int]) -> bool:
    """Hand stored events to the workers. Returns False (and logs) when Redis is unreachable."""
    if not event_ids:
        return True
    if breaker_open():
        return False
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        pipe.rpush(INBOUND_LIST, *event_ids)
        pipe.set(INBOUND_KICK, "1", nx=True, ex=KICK_TTL)
        pipe.publish(LIVE_CHANNEL, f"event:{event_ids[-1]}")
        _, kicked, _ = pipe.execute()
        if kicked:
            from vani.jobs.inbound import drain_inbound

            get_queue(QUEUE_INBOUND).enqueue(drain_inbound, job_timeout=KICK_TTL, result_ttl=60)
        return True
    except RedisError as exc:
        trip_breaker(exc)
        return False


def pop_events(batch: int) -> list[int]:
    conn = redis_ext.client
    raw = conn.lpop(INBOUND_LIST, batch) or []
    return [int(x) for x in raw]


def release_kick() -> bool:
    """Called by a drain job that found the list empty. True if more work arrived meanwhile
    and this job took the kick again (so it must keep draining)."""
    conn = redis_ext.client
    conn.delete(INBOUND_KICK)
    if conn.llen(INBOUND_LIST):
        return bool(conn.set(INBOUND_KICK, "1", nx=True, ex=KICK_TTL))
    return False


def publish(channel: str, message: str) -> None:
    """Best-effort live update for the dashboard."""
    if breaker_open():
        return
    try:
        redis_ext.client.publish(channel, message)
    except RedisError as exc:
        trip_breaker(exc)
