"""A hard deadline on every outbound call: a receiver that trickles its answer is cut at the
configured timeout, headers and body alike, whatever the per-read timeouts allow."""
from __future__ import annotations

import time

from tests.outbound.helpers import deliver, delivery, emit, subscribe
from vani import egress as http
from vani.outbound import delivery_lane


def test_trickled_headers_are_cut_at_the_deadline(app, trickler_factory):
    server = trickler_factory(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    started = time.monotonic()
    reply = http.call("POST", server.url, 0.2, data=b"{}")
    took = time.monotonic() - started
    assert reply.error == "timed out: no complete response within 0.2 s"
    assert 0.15 < took < 0.8


def test_a_trickled_body_is_cut_at_the_deadline(app, trickler_factory):
    server = trickler_factory(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    started = time.monotonic()
    reply = http.call("POST", server.url, 0.2, data=b"{}")
    assert time.monotonic() - started < 0.8
    assert reply.status_code == 200 and not reply.ok and "timed out" in reply.error


def test_a_kept_alive_connection_is_cut_under_the_next_calls_deadline(app, trickler_factory, httpserver):
    httpserver.expect_request("/fast").respond_with_data("ok")
    assert http.call("GET", httpserver.url_for("/fast"), 1.0).ok
    server = trickler_factory(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(2):  # the second call reuses nothing stale: still cut on time
        started = time.monotonic()
        assert "timed out" in http.call("POST", server.url, 0.2, data=b"{}").error
        assert time.monotonic() - started < 0.8


def test_a_delivery_to_a_trickling_receiver_fails_within_its_timeout(app, trickler_factory):
    app.config["VANI_DELIVERY_TIMEOUT_SECONDS"] = 0.2
    server = trickler_factory(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    subscribe(server.url)
    [delivery_id] = emit()
    started = time.monotonic()
    assert deliver() == 1
    assert time.monotonic() - started < 1.2
    d = delivery(delivery_id)
    assert d.status == "pending" and d.last_error == "timed out: no complete response within 0.2 s"


def test_sender_reports_refused_and_unreachable_targets_without_raising():
    from tests.network import free_tcp_port

    from vani.egress import aio

    def post(url, policy):
        return aio.submit(delivery_lane.post(url, b"{}", {}, 1.0, policy)).result(timeout=10)

    closed = f"http://127.0.0.1:{free_tcp_port()}/hook"
    result = post(closed, http.Policy(allow_private=True))
    assert result.status_code is None and result.error == "connection failed: connection refused"
    result = post(closed, http.Policy(allow_private=False))
    assert result.error.startswith("refused target") and "loopback" in result.error
    result = post("http://127.0.0.1:1/hook", http.Policy(allow_private=True))
    assert result.error.startswith("refused target: port 1 is refused")
