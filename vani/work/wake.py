"""Waking workers through Redis: a flag per lane and slot makes sure one drain job is queued.

Work is never *in* Redis: the rows wait in the database, and a drain job claims them there.
Redis only says "look now". A request that stored work sets the lane's flag (``SET NX``) and
queues a drain job only when it set it; the job keeps the flag alive while it runs and drops
it when nothing is due, so the flag of a job that died lapses within one lease. Best effort
throughout: with Redis down nothing is queued and the sweep wakes the lane once Redis is back.

The RQ queues work goes through: one per lane for its drain jobs (``queue_name``), and the
maintenance queue for one-off jobs (``enqueue_job``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue

from vani.extensions import redis_ext
from vani.work.lane import Lane, drain_job

log = logging.getLogger(__name__)

FLAG = "vani:work:{lane}:{slot}"


def _flag(lane: Lane, slot: int) -> str:
    return FLAG.format(lane=lane.name, slot=slot)


def _ttl_ms(lane: Lane) -> int:
    return max(int(lane.lease(current_app.config).total_seconds() * 1000), 1000)


def kick(lane: Lane, slot: int = 0) -> bool:
    """Make sure a drain job for ``lane`` (in ``slot``) is queued or running. False when Redis
    is unreachable (the sweep wakes the lane later)."""
    if not redis_ext.available():
        return False
    try:
        if redis_ext.client.set(_flag(lane, slot), "1", nx=True, px=_ttl_ms(lane)):
            _enqueue(lane, slot)
        redis_ext.succeeded()
        return True
    except RedisError as exc:
        redis_ext.trip(exc)
        return False


def kick_all(lanes: list[Lane], also: Callable[[Pipeline], None] | None = None) -> bool:
    """``kick`` each of ``lanes`` (slot 0) with one round trip for their flags, into which
    ``also`` may add its own commands (live updates). False when Redis is unreachable."""
    if not (lanes or also) or not redis_ext.available():
        return False
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        for lane in lanes:
            pipe.set(_flag(lane, 0), "1", nx=True, px=_ttl_ms(lane))
        if also is not None:
            also(pipe)
        flagged = pipe.execute()[:len(lanes)]
        for lane, was_set in zip(lanes, flagged):
            if was_set:
                _enqueue(lane, 0)
        redis_ext.succeeded()
        return True
    except RedisError as exc:
        redis_ext.trip(exc)
        return False


def _enqueue(lane: Lane, slot: int) -> None:
    budget = current_app.config.get("VANI_DRAIN_SECONDS", 60)
    get_queue(queue_name(lane)).enqueue(
        drain_job(), lane.name, slot, job_timeout=int(budget) + 120, result_ttl=0, failure_ttl=86400,
        description=f"drain {lane.name} (slot {slot})")


def hold(lane: Lane, slot: int) -> None:
    """Keep this job's flag for another lease (re-set if Redis lost it)."""
    if not redis_ext.available():
        return
    try:
        redis_ext.client.set(_flag(lane, slot), "1", px=_ttl_ms(lane))
    except RedisError as exc:
        redis_ext.trip(exc)


def release(lane: Lane, slot: int) -> None:
    """Drop this job's flag: the next stored item queues a new job."""
    if not redis_ext.available():
        return
    try:
        redis_ext.client.delete(_flag(lane, slot))
    except RedisError as exc:
        redis_ext.trip(exc)


def flag_ttl_ms(lane: Lane, slot: int = 0) -> int | None:
    """Milliseconds left on a flag (None when unset): for the health view and tests."""
    ttl = redis_ext.client.pttl(_flag(lane, slot))
    return ttl if ttl >= 0 else None


MAINTENANCE_QUEUE = "vani-maintenance"


def queue_name(lane: Lane) -> str:
    return f"vani-{lane.name.replace('_', '-')}"


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_ext.client, is_async=current_app.config.get("RQ_ASYNC", True))


def enqueue_job(func, *args, timeout: int = 1800):
    """Queue a one-off job (not lane work, e.g. a Calendly sync) on the maintenance queue.
    Raises RedisError when Redis is unreachable."""
    return get_queue(MAINTENANCE_QUEUE).enqueue(func, *args, job_timeout=timeout, result_ttl=86400)
