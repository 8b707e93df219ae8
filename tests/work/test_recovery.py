"""Nothing is lost when a worker dies: its claimed rows are taken over once their lease ends
(subprocess workers, SIGKILLed mid-claim)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests import bookings as bs
from tests.bookings import calendly
from tests.outbound.helpers import attempts, deliver, delivery, emit, subscribe
from tests.signing import post_calendly
from tests.work.helpers import HangingReceiver, drain
from vani.models import DeliveryStatus, EventStatus, Meeting
from vani.models.base import utcnow
from vani.processing.events import EVENTS
from vani.work import claims, sweep

ROOT = Path(__file__).resolve().parent.parent.parent

# A worker process: drains one lane, with a mapper that blocks (events) or a receiver that hangs.
WORKER = """
import sys, threading
from vani import create_app
app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": sys.argv[1], "REDIS_URL": sys.argv[2]})
with app.app_context():
    if sys.argv[3] == "events":
        from vani.providers.calendly import mapper
        def blocked(body, ctx):
            print("mapping", flush=True)
            threading.Event().wait()
        mapper.map_event = blocked
    from vani.work import drain
    drain(sys.argv[3])
"""


def start_worker(app, lane: str) -> subprocess.Popen:
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:1/0"
    return subprocess.Popen([sys.executable, "-c", WORKER, app.config["SQLALCHEMY_DATABASE_URI"], redis_url, lane],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


@pytest.fixture
def hanging():
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


def test_a_worker_killed_during_delivery_leaves_it_to_be_sent_again(app, hanging):
    app.config["VANI_DELIVERY_TIMEOUT_SECONDS"] = 10
    subscribe(hanging.url)
    [delivery_id] = emit()
    proc = start_worker(app, "deliveries")
    try:
        assert hanging.got_first.wait(30), "the worker never called the receiver"
        assert delivery(delivery_id).status == DeliveryStatus.DELIVERING
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    hanging.release.set()
    assert all(s.taken_over == 0 for s in sweep.run())  # the lease has not run out: it might be alive
    lease_end = utcnow() + timedelta(seconds=20)  # the lease: the call's deadline plus a margin
    assert [s.taken_over for s in sweep.run(now=lease_end) if s.lane == "deliveries"] == [1]
    d = delivery(delivery_id)
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1 and "lease ran out" in d.last_error
    deliver(now=lease_end)
    d = delivery(delivery_id)
    assert d.status == DeliveryStatus.DELIVERED and d.attempts == 2
    assert [a.trigger for a in attempts(delivery_id)] == ["lost", "scheduled"]
    assert len(hanging.ids) == 2 and hanging.ids[0] == hanging.ids[1] == d.msg_id  # the same webhook-id


def test_a_worker_killed_holding_claimed_events_leaves_them_to_be_processed(app, client):
    ids = [post_calendly(client, calendly("invitee.created", n, email=f"k{n}@example.test")).json["event_id"]
           for n in range(3)]
    proc = start_worker(app, "events")
    try:
        assert proc.stdout.readline().strip() == "mapping"  # it holds the claim and is mapping the first
        assert {bs.event(i).status for i in ids} == {EventStatus.PROCESSING}
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert claims.take_over(EVENTS, app.config) == []  # within the lease: not yet
    lease_end = utcnow() + timedelta(seconds=15)
    assert claims.take_over(EVENTS, app.config, now=lease_end) == ids
    assert drain(EVENTS, now=lease_end) == 3
    assert [bs.event(i).status for i in ids] == [EventStatus.PROCESSED] * 3
    assert bs.count(Meeting) == 3
