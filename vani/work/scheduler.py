"""The scheduler process: any number of copies, one leader that sweeps and queues the cron jobs.

Each copy asks every second to lead (``vani.work.leadership``, the name ``vani-scheduler``). The
leader sweeps every ``VANI_SWEEP_SECONDS`` in-process and drives RQ's ``CronScheduler`` for the
cron jobs; the others wait. When the leader dies its lock goes with its database connection and
another copy leads within a second or two. Before each sweep and each round of cron jobs the
leader checks, against the database, that it still leads; when it does not (its connection
failed) it stops at once and follows again.

RQ's ``CronScheduler`` keeps its timing in the process: a new leader would queue every interval job
at once, and a leader that comes back would queue a cron slot another copy already queued. So a
job is queued only by the copy that first marks its period in Redis (``SET NX``): an interval job's
period is the ``interval``-long slice of time it falls in (counted from the epoch), a cron job's is
its slot. A new leader also catches up a cron slot of the last ``CATCH_UP`` seconds that the old
leader did not queue. Redis or the database going away is logged once and waited out.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from vani.extensions import db, redis_ext
from vani.work import heartbeat, stopping, sweep
from vani.work.leadership import Locks, follow
from vani.work.wake import MAINTENANCE_QUEUE

log = logging.getLogger(__name__)

LEADER = "vani-scheduler"
PERIOD_KEY = "vani:cron:{name}:{period}"  # set by the copy that queued the job in that period
CATCH_UP = 600        # a cron slot this recent, missed during a hand-over, is still queued
CHECK_SECONDS = 1.0   # how often the leader makes sure it still leads


@dataclass(frozen=True)
class CronEntry:
    """A job the scheduler queues on a cron line (``"17 3 * * *"``) or every ``interval`` seconds."""

    func: Callable
    cron: str | None = None
    interval: int | None = None
    timeout: int = 3600


def build_cron(connection, entries: list[CronEntry], name: str = ""):
    """RQ's ``CronScheduler`` with ``entries`` registered (referenced as functions, not names)."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=connection, name=name)
    for entry in entries:
        scheduler.register(entry.func, MAINTENANCE_QUEUE, cron=entry.cron, interval=entry.interval,
                           job_timeout=entry.timeout, result_ttl=86400, ttl=3600)
    return scheduler


def period_of(job, at: datetime) -> tuple[int, datetime, int]:
    """The period ``job`` runs for when due at ``at``: its number (epoch seconds of its start),
    when the next one starts, and how long its Redis mark must last."""
    if job.interval:
        start = int(at.timestamp()) // job.interval * job.interval
        return start, datetime.fromtimestamp(start + job.interval, timezone.utc), max(2 * job.interval, 60)
    slot = job.next_enqueue_time
    following = _cron_slot(job.cron, slot, forward=True)
    return int(slot.timestamp()), following, max(2 * int((following - slot).total_seconds()), 3600)


def _cron_slot(line: str, base: datetime, forward: bool) -> datetime:
    """The cron slot after (or at/before) ``base``, in UTC; cron lines are in local time, as RQ reads them."""
    from croniter import croniter

    local = base.astimezone().replace(tzinfo=None)
    if not forward:
        local += timedelta(seconds=1)  # a slot exactly at ``base`` counts as before it
    found = croniter(line, local).get_next(datetime) if forward else croniter(line, local).get_prev(datetime)
    return datetime.fromtimestamp(found.timestamp(), timezone.utc)


def catch_up(cron, now: datetime) -> None:
    """Make a cron slot of the last ``CATCH_UP`` seconds due again (the period mark decides)."""
    for job in cron.get_jobs():
        if job.cron:
            last = _cron_slot(job.cron, now, forward=False)
            if (now - last).total_seconds() <= CATCH_UP:
                job.next_enqueue_time = last


def queue_due(cron, connection, now: datetime | None = None) -> list:
    """Queue the due jobs of ``cron`` whose period no copy has queued yet; the ones queued here."""
    now = now or datetime.now(timezone.utc)
    queued = []
    for job in cron.get_jobs():
        if not job.should_run():
            continue
        at = now if job.next_enqueue_time is None else max(now, job.next_enqueue_time)
        period, following, ttl = period_of(job, at)
        mark = PERIOD_KEY.format(name=job.name, period=period)
        if connection.set(mark, cron.name, nx=True, ex=ttl):
            try:
                job.enqueue(connection)
            except RedisError:
                connection.delete(mark)  # best effort: let the next try (here or elsewhere) queue it
                raise
            queued.append(job)
        else:
            log.info("scheduler: %s was queued for this period already", job.name)
        job.set_enqueue_time(now)
        if job.interval:
            job.next_enqueue_time = following  # every copy on the same period boundaries
    if queued:
        cron.save()
    return queued


class Leader:
    """One term as leader: sweeps and queues until ``stop`` is set or the lead is lost."""

    def __init__(self, entries: list[CronEntry], locks: Locks, stop: threading.Event):
        self.entries, self.locks, self.stop = entries, locks, stop
        self.interval = float(current_app.config.get("VANI_SWEEP_SECONDS", 5))

    def __call__(self) -> None:
        heartbeat.beat(leading=True)
        try:
            self.lead()
        finally:
            heartbeat.beat(leading=False)

    def lead(self) -> None:
        cron = build_cron(redis_ext.client, self.entries)  # fresh timing: the marks say what ran
        catch_up(cron, datetime.now(timezone.utc))
        registered = redis_down = False
        next_sweep = 0.0
        while not self.stop.is_set() and self.locks.holds(LEADER):
            try:
                if not registered:
                    cron.register_birth()
                    registered = True
                if redis_down:
                    redis_down = False
                    redis_ext.reset()
                    log.info("scheduler: Redis is back; handing stored work over")
                if time.monotonic() >= next_sweep:
                    sweep.sweep_once("scheduler")
                    next_sweep = time.monotonic() + self.interval
                    cron.heartbeat()
                if self.locks.holds(LEADER):  # the sweep may have taken a while
                    queue_due(cron, redis_ext.client)
            except RedisError as exc:
                if not redis_down:
                    log.warning("scheduler: Redis unreachable (%s); retrying until it is back", exc)
                redis_down, registered = True, False
            self.stop.wait(min(CHECK_SECONDS, max(next_sweep - time.monotonic(), 0.05)))
        try:
            cron.register_death()
        except RedisError:
            pass


def run_scheduler(entries: list[CronEntry], stop: threading.Event | None = None, locks: Locks | None = None) -> None:
    """Lead (sweep every ``VANI_SWEEP_SECONDS`` and queue the cron entries) or wait to, until
    SIGTERM/SIGINT or ``stop``."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        stopping.install_for(stop)
    locks = locks or Locks(current_app.config["SQLALCHEMY_DATABASE_URI"])
    heartbeat.beat(leading=False)
    try:
        follow(locks, LEADER, stop, Leader(entries, locks, stop))
    finally:
        locks.close()
