"""The RQ workers: every lane's queue worked through Redis restarts, and stopped cleanly.

A worker runs RQ's ``Worker`` (or ``SimpleWorker``) on every lane's queue. When RQ gives up on a
lost Redis, the loop here waits for Redis with backoff, logging once, and starts a new worker,
then sweeps at once so work stored meanwhile is handed over without waiting for the scheduler.

SIGTERM or SIGINT only records a stop (``vani.work.stopping``); nothing is raised from the
signal handler, so a stop arriving while the process is inside ``logging`` cannot be lost. An
idle worker sees it within ``IDLE_POLL`` seconds. A busy one passes it to the job (the work
horse, when forked), whose drain hands its unsettled rows back; a job still running after
``VANI_STOP_GRACE_SECONDS`` is ended (its rows are then taken over when their lease runs out).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

from flask import current_app
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.worker import WorkerStatus

from vani.extensions import db, redis_ext
from vani.models import ProcessRole
from vani.work import heartbeat, stopping
from vani.work.lane import installed
from vani.work.sweep import sweep_once
from vani.work.wake import MAINTENANCE_QUEUE, queue_name

log = logging.getLogger(__name__)

BACKOFF_MAX = 5.0
IDLE_POLL = 1  # seconds an idle worker waits for a job before looking at the stop flag again


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


class _Stoppable:
    """RQ's worker with Vani's stop: a flag set by the signal handler, never an exception."""

    grace: float = 8.0
    _cold = False
    _timer: threading.Timer | None = None

    def _install_signal_handlers(self) -> None:  # RQ's raise StopRequested from the handler
        stopping.install(self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if self._cold and self.get_state() == WorkerStatus.BUSY:
            raise SystemExit(f"the job did not finish within {self.grace:g} s of the stop")
        if stopping.requested() and self._timer is not None:
            return
        stopping.request()
        self._stop_requested = True  # RQ's loop ends after the current job
        if self.horse_pid:
            try:  # the horse's drain hands its claim back and returns
                os.kill(self.horse_pid, signal.SIGTERM)
            except OSError:
                pass
        self._timer = threading.Timer(self.grace, self._hard_stop)
        self._timer.daemon = True
        self._timer.start()

    def _hard_stop(self) -> None:
        """The grace is spent: end the job (runs in the timer's thread)."""
        if self.horse_pid:
            self.kill_horse(signal.SIGKILL)
        elif self.get_state() == WorkerStatus.BUSY:
            self._cold = True
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises in the main thread

    def subscribe(self) -> None:
        """RQ's command listener, polling twice a second instead of every 60 s: RQ waits for the
        poll to end when it stops the listener, which would hold a stopping worker up to a minute."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=0.5, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)

    def setup_work_horse_signals(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the worker, which passes it on
        signal.signal(signal.SIGTERM, stopping.request)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if timeout is None:  # burst: RQ does not wait
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not stopping.requested():
            result = super().dequeue_job_and_maintain_ttl(min(timeout, IDLE_POLL), IDLE_POLL)
            if result is not None:
                return result
        return None


class VaniWorker(_Stoppable, Worker):
    """Forks a work horse per job."""


class VaniSimpleWorker(_Stoppable, SimpleWorker):
    """Runs each job in the worker process."""


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
    worker = (VaniSimpleWorker if simple else VaniWorker)(queues or all_queues(), connection=redis_ext.client)
    worker.max_connection_wait_time = BACKOFF_MAX  # reconnect within seconds once Redis is back
    worker.grace = float(current_app.config.get("VANI_STOP_GRACE_SECONDS", 8))
    return worker


def wait_for_redis() -> bool:
    """Block until Redis answers (True) or a stop is requested (False), backing off up to 5 s."""
    delay = 0.25
    while not stopping.requested():
        try:
            redis_ext.client.ping()
            redis_ext.succeeded()
            return True
        except RedisError as exc:
            redis_ext.trip(exc)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stopping.requested():
            time.sleep(0.1)
        delay = min(delay * 2, BACKOFF_MAX)
    return False


def run_worker(queues: list[str] | None = None, burst: bool = False, simple: bool | None = None) -> None:
    """Work until stopped (or, with ``burst``, until the queues are empty), through Redis outages."""
    level = str(current_app.config.get("VANI_WORKER_LOG_LEVEL") or "INFO").upper()
    once = _OnceFilter()
    logging.getLogger("rq.worker").addFilter(once)
    stopping.clear()
    stopping.install()  # until RQ's worker installs its own handler (which records it the same way)
    with heartbeat.running(ProcessRole.WORKER, queues or all_queues()):
        while not stopping.requested():
            worker = None
            try:
                worker = make_worker(queues, simple)
                if not burst:
                    sweep_once("worker start")
                worker.work(burst=burst, logging_level=level)
            except RedisError as exc:
                redis_ext.trip(exc)
            if stopping.requested() or (burst and worker is not None):
                break
            log.warning("worker stopped without being asked (Redis lost?); starting a new one when Redis answers")
            if not wait_for_redis():
                break
            once.seen = False
        if stopping.requested():
            log.info("worker stopped on request")
