"""Stopping the real processes: an idle or busy worker (forked or simple), the scheduler and the
mail watcher end within 10 s of SIGTERM or SIGINT, wherever the signal lands; a busy worker's job
finishes the item in hand and hands the rest of its claim back; each deletes its heartbeat row."""
from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest
from sqlalchemy import select

from tests.outbound.helpers import delivery, emit, subscribe
from tests.work.helpers import HangingReceiver, RedisServer, flask_process
from vani.extensions import db
from vani.models import DeliveryStatus, ProcessHeartbeat, ProcessRole

pytestmark = pytest.mark.slow

STOP_WITHIN = 10  # seconds
KINDS = {"fork": (), "simple": ("--simple",)}


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def hanging():
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def started(app, redis_server, tmp_path):
    """``started(*args, **env)`` → a ``flask vani`` process, up (its heartbeat row written);
    whatever is still running at the end is killed."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        log = tmp_path / f"process-{len(procs)}.log"
        proc = flask_process(app, redis_server.url, *args, log=log, PYTHONFAULTHANDLER="1", **env)
        proc.log = log
        procs.append(proc)
        deadline = time.monotonic() + 60
        while heartbeat_of(proc) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert heartbeat_of(proc) is not None, f"{args} did not start:\n{log.read_text()}"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def heartbeat_of(proc: subprocess.Popen) -> ProcessHeartbeat | None:
    db.session.expire_all()
    row = db.session.execute(select(ProcessHeartbeat).where(ProcessHeartbeat.pid == proc.pid)).scalar_one_or_none()
    db.session.rollback()
    return row


def ended(proc: subprocess.Popen, sig: signal.Signals) -> int:
    """``proc``'s exit status, waiting at most ``STOP_WITHIN`` s; else the test fails with where
    its threads are (faulthandler dumps them on SIGABRT)."""
    try:
        return proc.wait(STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(10)
        pytest.fail(f"still running {STOP_WITHIN} s after {sig.name}:\n{proc.log.read_text()[-6000:]}")


def stop(proc: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> str:
    """Signal ``proc`` and wait (at most ``STOP_WITHIN`` s) for it to end cleanly; its output."""
    proc.send_signal(sig)
    code = ended(proc, sig)
    output = proc.log.read_text()
    assert code == 0, output[-3000:]
    assert "Logging error" not in output and "without being asked" not in output, output[-3000:]
    assert heartbeat_of(proc) is None, "a clean stop leaves no heartbeat row"
    return output


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_idle_worker_stops(started, kind, sig):
    proc = started("worker", *KINDS[kind])
    time.sleep(1)  # in RQ's wait for jobs
    stop(proc, sig)
    assert proc.returncode == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_stop_arriving_at_any_moment_is_never_lost(started, kind):
    """Signals land anywhere: during start-up, in the sweep, while RQ logs at DEBUG, in the wait
    for jobs. A stop raised as an exception inside ``logging`` used to be swallowed."""
    rng = random.Random()
    for _ in range(5):
        proc = started("worker", *KINDS[kind], VANI_WORKER_LOG_LEVEL="DEBUG")
        time.sleep(rng.uniform(0, 2.5))
        stop(proc)
        assert proc.returncode == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_busy_worker_finishes_the_call_in_hand_and_hands_the_rest_back(app, started, hanging, kind):
    subscribe(hanging.url)
    first, *rest = [emit(key=f"stop-{n}")[0] for n in range(3)]
    proc = started("worker", *KINDS[kind], VANI_SEND_PER_SUBSCRIPTION="1")  # the rest wait for the first
    assert hanging.got_first.wait(30), "the worker never called the receiver"
    proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    hanging.release.set()  # the call in hand ends after the stop
    assert ended(proc, signal.SIGTERM) == 0, proc.log.read_text()[-3000:]
    assert delivery(first).status == DeliveryStatus.DELIVERED
    for d in map(delivery, rest):  # due again at once, for another worker, the attempt not counted
        assert (d.status, d.attempts, d.lease_token) == (DeliveryStatus.PENDING, 0, None)
    assert len(hanging.ids) == 1
    assert heartbeat_of(proc) is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_outlasting_the_grace_is_ended(app, started, hanging, kind):
    subscribe(hanging.url)
    [only] = emit(key="stuck")
    proc = started("worker", *KINDS[kind], VANI_STOP_GRACE_SECONDS="2", VANI_DELIVERY_TIMEOUT_SECONDS="60")
    assert hanging.got_first.wait(30), "the worker never called the receiver"
    stop(proc)
    d = delivery(only)  # the call may have gone out: left to the takeover once its lease runs out
    assert d.status == DeliveryStatus.DELIVERING and d.lease_token is not None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_scheduler_stops(started, sig):
    proc = started("scheduler")
    assert heartbeat_of(proc).role == ProcessRole.SCHEDULER
    time.sleep(1.5)  # a sweep or two
    stop(proc, sig)


def test_the_mail_watcher_keeps_a_heartbeat_and_stops(started):
    proc = started("mail", "watch")
    assert heartbeat_of(proc).role == ProcessRole.MAIL_WATCHER
    stop(proc)
