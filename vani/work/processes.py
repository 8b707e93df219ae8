"""The scheduler process, riding out Redis restarts (the workers are in ``vani.work.workers``).

The scheduler sweeps every ``VANI_SWEEP_SECONDS`` in-process and drives RQ's ``CronScheduler``
for the cron jobs (daily cleanup and the like); it keeps running through Redis outages too.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from vani.extensions import db, redis_ext
from vani.work import sweep
from vani.work.wake import MAINTENANCE_QUEUE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CronEntry:
    """A job the scheduler queues on a cron line (``"17 3 * * *"``) or every ``interval`` seconds."""

    func: Callable
    cron: str | None = None
    interval: int | None = None
    timeout: int = 3600


def sweep_once(reason: str) -> None:
    try:
        woken = [s.lane for s in sweep.run() if s.woken]
        if woken:
            log.info("%s: woke %s", reason, ", ".join(woken))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("%s: the sweep could not reach the database: %s", reason, exc)


def build_cron(connection, entries: list[CronEntry], name: str = ""):
    """RQ's ``CronScheduler`` with ``entries`` registered (referenced as functions, not names)."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=connection, name=name)
    for entry in entries:
        scheduler.register(entry.func, MAINTENANCE_QUEUE, cron=entry.cron, interval=entry.interval,
                           job_timeout=entry.timeout, result_ttl=86400, ttl=3600)
    return scheduler


def run_scheduler(entries: list[CronEntry], stop: threading.Event | None = None) -> None:
    """Sweep every ``VANI_SWEEP_SECONDS`` and queue the cron entries, until SIGTERM/SIGINT or
    ``stop``. Redis or the database going away is logged once and waited out."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    interval = float(current_app.config.get("VANI_SWEEP_SECONDS", 5))
    cron = build_cron(redis_ext.client, entries)
    registered = False
    redis_down = False
    while not stop.is_set():
        try:
            if not registered:
                cron.register_birth()
                registered = True
            if redis_down:
                redis_down = False
                redis_ext.reset()
                log.info("scheduler: Redis is back; handing stored work over")
            sweep_once("scheduler")
            if cron.enqueue_jobs():
                cron.save()
            cron.heartbeat()
            wait = min(interval, max(cron.calculate_sleep_interval(), 0.5))
        except RedisError as exc:
            if not redis_down:
                log.warning("scheduler: Redis unreachable (%s); retrying until it is back", exc)
            redis_down, registered = True, False
            wait = 1.0
        stop.wait(wait)
    try:
        cron.register_death()
    except RedisError:
        pass
