"""The RQ workers, riding out Redis restarts (the scheduler is in ``vani.work.scheduler``).

A worker runs RQ's ``Worker`` (or ``SimpleWorker``) on every lane's queue. When RQ gives up on a
lost Redis, the loop here waits for Redis with backoff, logging once, and starts a new worker,
then sweeps at once so work stored meanwhile is handed over without waiting for the scheduler.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from flask import current_app
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from sqlalchemy.exc import SQLAlchemyError

from vani.extensions import db, redis_ext
from vani.work import sweep
from vani.work.lane import installed
from vani.work.wake import MAINTENANCE_QUEUE, queue_name

log = logging.getLogger(__name__)

BACKOFF_MAX = 5.0


def all_queues() -> list[str]:
    """Every lane's queue in lane order (events first), then maintenance."""
    return [queue_name(lane) for lane in installed()] + [MAINTENANCE_QUEUE]


class _OnceFilter(logging.Filter):
    """Lets RQ's "could not connect to Redis" through once per outage, not once per retry."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "could not connect to Redis" in record.getMessage():
            if self.seen:
                return False
            self.seen = True
        return True


_fork_hook = False


def _fresh_connections_in_child() -> None:
    try:  # a forked work horse must not reuse the parent's database sockets
        db.engine.dispose(close=False)
    except RuntimeError:  # forked outside an app context: nothing to reset
        pass


def make_worker(queues: list[str] | None = None, simple: bool | None = None) -> Worker:
    global _fork_hook
    if simple is None:
        simple = current_app.config.get("VANI_WORKER_CLASS") == "simple"
    if not simple and not _fork_hook:
        os.register_at_fork(after_in_child=_fresh_connections_in_child)
        _fork_hook = True
    worker = (SimpleWorker if simple else Worker)(queues or all_queues(), connection=redis_ext.client)
    worker.max_connection_wait_time = BACKOFF_MAX  # reconnect within seconds once Redis is back
    return worker


def wait_for_redis(stop: threading.Event | None = None) -> bool:
    """Block until Redis answers (True) or ``stop`` is set (False), backing off up to 5 s."""
    delay = 0.25
    while stop is None or not stop.is_set():
        try:
            redis_ext.client.ping()
            redis_ext.succeeded()
            return True
        except RedisError as exc:
            redis_ext.trip(exc)
        (stop.wait if stop else time.sleep)(delay)
        delay = min(delay * 2, BACKOFF_MAX)
    return False


def sweep_once(reason: str) -> None:
    try:
        woken = [s.lane for s in sweep.run() if s.woken]
        if woken:
            log.info("%s: woke %s", reason, ", ".join(woken))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("%s: the sweep could not reach the database: %s", reason, exc)


def run_worker(queues: list[str] | None = None, burst: bool = False, simple: bool | None = None) -> None:
    """Work until stopped (or, with ``burst``, until the queues are empty), through Redis outages."""
    level = str(current_app.config.get("VANI_WORKER_LOG_LEVEL") or "INFO").upper()
    once = _OnceFilter()
    logging.getLogger("rq.worker").addFilter(once)
    while True:
        worker = None
        try:
            worker = make_worker(queues, simple)
            if not burst:
                sweep_once("worker start")
            worker.work(burst=burst, logging_level=level)
        except RedisError as exc:
            redis_ext.trip(exc)
        if worker is not None and (burst or worker._stop_requested):
            return
        log.warning("worker stopped without being asked (Redis lost?); starting a new one when Redis answers")
        if not wait_for_redis():
            return
        once.seen = False
