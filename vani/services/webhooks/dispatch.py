"""Waking the delivery workers through Redis, and live updates for the dashboard.

Like inbound events, deliveries are not one RQ job each: a kick flag makes sure one
``deliver_due`` job is queued, and that job works through every due delivery in batches.
Everything here is best effort: with Redis down the deliveries wait in the database and the
minute sweep hands them over.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from redis.exceptions import RedisError

from vani.extensions import redis_ext
from vani.services import queue

log = logging.getLogger(__name__)

KICK_KEY = "vani:deliveries:kick"
WAKE_KEY = "vani:deliveries:wake:"
KICK_TTL = 300  # a job that died cannot block new ones for longer than this
JOB = "vani.jobs.deliveries.deliver_due"
JOB_TIMEOUT = 600
WAKE_HORIZON = 60.0  # retries due sooner than this get a scheduled job; later ones wait for the sweep


def kick() -> bool:
    """Make sure a ``deliver_due`` job is queued. False when Redis is unreachable."""
    if queue.breaker_open():
        return False
    try:
        if redis_ext.client.set(KICK_KEY, "1", nx=True, ex=KICK_TTL):
            queue.get_queue(queue.QUEUE_DELIVERIES).enqueue(JOB, job_timeout=JOB_TIMEOUT, result_ttl=60)
        return True
    except RedisError as exc:
        queue.trip_breaker(exc)
        return False


def release_kick() -> None:
    """Called by a ``deliver_due`` job that found nothing due."""
    try:
        redis_ext.client.delete(KICK_KEY)
    except RedisError as exc:
        queue.trip_breaker(exc)


def schedule_wake(delay_seconds: float) -> bool:
    """Queue a ``deliver_due`` job to run in ``delay_seconds`` (one per second of due time).
    Longer waits are left to the minute sweep. Returns True when a job was scheduled."""
    if delay_seconds > WAKE_HORIZON or queue.breaker_open():
        return False
    delay = max(int(delay_seconds + 0.999), 1)
    try:
        slot = int(time.time()) + delay
        if not redis_ext.client.set(f"{WAKE_KEY}{slot}", "1", nx=True, ex=delay + 60):
            return False
        queue.get_queue(queue.QUEUE_DELIVERIES).enqueue_in(timedelta(seconds=delay), JOB,
                                                           job_timeout=JOB_TIMEOUT, result_ttl=60)
        return True
    except RedisError as exc:
        queue.trip_breaker(exc)
        return False


def publish_deliveries(delivery_ids: list[int]) -> None:
    """``delivery:<id>`` on the live channel for each changed delivery, in one round trip."""
    if not delivery_ids or queue.breaker_open():
        return
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        for delivery_id in delivery_ids:
            pipe.publish(queue.LIVE_CHANNEL, f"delivery:{delivery_id}")
        pipe.execute()
    except RedisError as exc:
        queue.trip_breaker(exc)
