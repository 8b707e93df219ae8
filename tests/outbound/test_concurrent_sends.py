"""Many deliveries in flight at once: the per-subscription limit, one slow subscription not holding
up another, a lease lost mid-flight, and a flaky receiver that still gets each message once."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from tests.loopback import Server
from tests.outbound.helpers import deliver, delivery, emit, subscribe
from tests.work.helpers import LeaseTaker
from vani.models import DeliveryStatus, WebhookDelivery
from vani.models.base import utcnow
from vani.outbound.delivery_lane import DELIVERIES
from vani.work import claims, runner


class Receiver:
    """Loopback receiver, a thread per connection: counts requests in flight per path and calls
    ``on_request(path, webhook_id)`` (which may block) before answering its status."""

    def __init__(self, on_request=lambda path, msg_id: 200):
        self.lock = threading.Lock()
        self.now: Counter = Counter()
        self.most: Counter = Counter()
        self.acked: Counter = Counter()
        self.on_request = on_request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                with outer.lock:
                    outer.now[self.path] += 1
                    outer.most[self.path] = max(outer.most[self.path], outer.now[self.path])
                try:
                    status = outer.on_request(self.path, self.headers["webhook-id"])
                finally:
                    with outer.lock:
                        outer.now[self.path] -= 1
                        if status == 200:
                            outer.acked[self.headers["webhook-id"]] += 1
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(on_request=lambda path, msg_id: 200) -> Receiver:
        made.append(Receiver(on_request))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_many_are_in_flight_but_never_more_than_the_per_subscription_limit(app, receiver):
    app.config["VANI_SEND_PER_SUBSCRIPTION"] = 4
    gate = threading.Barrier(4, timeout=10)  # each request waits until four are in flight together

    def on_request(path, msg_id):
        try:
            gate.wait()
        except threading.BrokenBarrierError:  # the last few: fewer than four left
            pass
        return 200

    r = receiver(on_request)
    subscribe(r.url("/a"))
    ids = [emit(key=f"k{n}")[0] for n in range(12)]
    deliver()
    assert r.most["/a"] == 4  # four at once, and never a fifth
    assert {delivery(i).status for i in ids} == {DeliveryStatus.DELIVERED} and len(r.acked) == 12


def test_a_slow_subscription_does_not_hold_up_another(app, receiver):
    app.config["VANI_SEND_PER_SUBSCRIPTION"] = 2
    fast_done = threading.Event()
    fast_count, lock = Counter(), threading.Lock()

    def on_request(path, msg_id):
        if path == "/slow":
            assert fast_done.wait(10), "the fast subscription's deliveries waited behind the slow one"
        else:
            with lock:
                fast_count["n"] += 1
                if fast_count["n"] == 6:
                    fast_done.set()
        return 200

    r = receiver(on_request)
    subscribe(r.url("/slow"), events=("deal.won",))
    subscribe(r.url("/fast"), events=("meeting.scheduled",))
    slow = [emit("deal.won", key=f"s{n}")[0] for n in range(6)]  # claimed first, oldest first
    fast = [emit(key=f"f{n}")[0] for n in range(6)]
    deliver()
    assert fast_done.is_set()
    assert {delivery(i).status for i in slow + fast} == {DeliveryStatus.DELIVERED}
    assert r.most["/slow"] == 2


def test_a_lease_lost_while_sends_are_in_flight_writes_nothing(app, receiver):
    take_over = LeaseTaker(app, WebhookDelivery)  # another worker takes the rows over meanwhile

    def on_request(path, msg_id):
        take_over()
        return 200

    r = receiver(on_request)
    subscribe(r.url("/a"))
    ids = [emit(key=f"k{n}")[0] for n in range(5)]
    claim = claims.claim(DELIVERIES, app.config)
    runner.run_claim(DELIVERIES, claim)
    rows = [delivery(i) for i in ids]
    assert all(d.status == DeliveryStatus.DELIVERING and d.lease_token == "another-worker" for d in rows)
    assert all(d.delivered_at is None and d.last_attempt_at is None for d in rows)
    assert claim.settled == dict.fromkeys(ids)  # each outcome refused, none written


def test_a_half_failing_receiver_ends_with_all_delivered_each_acknowledged_once(app, receiver):
    app.config["VANI_RETRY_JITTER"] = False
    seen: Counter = Counter()
    lock = threading.Lock()

    def on_request(path, msg_id):
        with lock:
            seen[msg_id] += 1
            return 500 if seen[msg_id] == 1 and hash(msg_id) % 2 else 200  # about half fail once

    r = receiver(on_request)
    subscribe(r.url("/a"))
    ids = [emit(key=f"k{n}")[0] for n in range(40)]
    now = utcnow()
    for step in range(4):
        deliver(now=now + timedelta(minutes=step))
    assert {delivery(i).status for i in ids} == {DeliveryStatus.DELIVERED}
    assert len(r.acked) == 40 and set(r.acked.values()) == {1}
    assert sum(seen.values()) == sum(delivery(i).attempts for i in ids) > 40
