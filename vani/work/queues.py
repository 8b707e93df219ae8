"""The RQ queues work goes through: one per lane for its drain jobs, and the maintenance queue."""
from __future__ import annotations

from flask import current_app
from rq import Queue

from vani.extensions import redis_ext
from vani.work.lane import Lane

MAINTENANCE_QUEUE = "vani-maintenance"


def queue_name(lane: Lane) -> str:
    return f"vani-{lane.name.replace('_', '-')}"


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_ext.client, is_async=current_app.config.get("RQ_ASYNC", True))


def enqueue_job(func, *args, timeout: int = 1800):
    """Queue a one-off job (not lane work, e.g. a Calendly sync) on the maintenance queue.
    Raises RedisError when Redis is unreachable."""
    return get_queue(MAINTENANCE_QUEUE).enqueue(func, *args, job_timeout=timeout, result_ttl=86400)
