"""Nothing is lost: a worker killed mid-delivery, the sweep, and the RQ job path."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rq.registry import ScheduledJobRegistry

from tests.outbound_support import attempts, deliver, delivery, emit, subscribe
from vani.extensions import db
from vani.models import OutboundEvent
from vani.models.base import utcnow
from vani.services import outbox
from vani.services.queue import QUEUE_DELIVERIES, get_queue
from vani.services.webhooks import dispatch

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
from vani import create_app
app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": sys.argv[1], "REDIS_URL": sys.argv[2]})
with app.app_context():
    from vani.jobs.deliveries import deliver_due
    deliver_due()
"""


class HangingReceiver:
    """Loopback receiver whose first request hangs until released; later requests get 200."""

    def __init__(self):
        self.got_first = threading.Event()
        self.release = threading.Event()
        self.ids: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                outer.ids.append(self.headers["webhook-id"])
                if len(outer.ids) == 1:
                    outer.got_first.set()
                    outer.release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the killed worker's connection is gone
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hanging():
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


def test_a_worker_killed_during_delivery_leaves_it_to_be_retried(app, hanging):
    subscribe(hanging.url)
    [delivery_id] = emit()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:1/0"
    proc = subprocess.Popen([sys.executable, "-c", WORKER, app.config["SQLALCHEMY_DATABASE_URI"], redis_url],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert hanging.got_first.wait(30), "the worker never called the receiver"
        assert delivery(delivery_id).status == "delivering"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    hanging.release.set()
    from vani.jobs.deliveries import sweep

    assert sweep()["requeued"] == 0  # the lease has not expired yet: the worker might be alive
    assert delivery(delivery_id).status == "delivering"
    later = utcnow() + timedelta(seconds=app.config["VANI_DELIVERY_TIMEOUT_SECONDS"] + 31)
    counts = sweep(now=later)
    assert counts["requeued"] == 1
    d = delivery(delivery_id)
    assert d.status == "pending" and d.attempts == 1 and "lease expired" in d.last_error
    deliver(now=later)
    d = delivery(delivery_id)
    assert d.status == "delivered" and d.attempts == 2
    assert [a.trigger for a in attempts(delivery_id)] == ["lost", "scheduled"]
    assert len(hanging.ids) == 2 and hanging.ids[0] == hanging.ids[1] == d.msg_id  # same webhook-id


def test_processing_hook_fans_out_and_the_rq_worker_delivers(app, httpserver, run_worker, redis_client):
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))
    outbox.emit("prospect.created", {"id": 5}, "hook-test")
    db.session.commit()
    from vani.jobs.deliveries import after_events

    assert after_events([123]) == 1
    assert after_events([123]) == 0  # already fanned out
    assert dispatch.kick()  # a second kick while one job is queued adds none
    assert get_queue(QUEUE_DELIVERIES).count == 1
    assert run_worker() == 1
    assert len(httpserver.log) == 1
    assert redis_client.get(dispatch.KICK_KEY) is None  # released for the next burst


def test_a_retry_due_soon_gets_a_scheduled_wake_up_job(app, httpserver, run_worker, redis_client):
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    subscribe(httpserver.url_for("/hook"))
    emit()
    dispatch.kick()
    run_worker()
    registry = ScheduledJobRegistry(queue=get_queue(QUEUE_DELIVERIES))
    assert len(registry.get_job_ids()) == 1  # the 5 s retry will be picked up without the sweep


def test_sweep_fans_out_missed_events_and_cancels_deliveries_of_disabled_subscriptions(app, httpserver):
    sub, _ = subscribe(httpserver.url_for("/hook"))
    outbox.emit("meeting.completed", {"id": 9}, "missed")
    db.session.commit()
    from vani.jobs.deliveries import sweep

    counts = sweep()
    assert counts["fanned_out"] == 1 and counts["due"] == 1
    assert db.session.query(OutboundEvent).filter_by(fanned_out=False).count() == 0
    from sqlalchemy import update

    from vani.models import WebhookDelivery, WebhookSubscription

    db.session.execute(update(WebhookSubscription).values(active=False))  # disabled behind our back
    db.session.commit()
    assert sweep()["cancelled"] == 1
    assert db.session.query(WebhookDelivery).one().status == "cancelled"
