"""Deliveries against a real local receiver (pytest-httpserver): signatures, retries, 410,
Retry-After, rotation, health, manual retry. Time is injected; nothing sleeps."""
from __future__ import annotations

import random
from datetime import timedelta

from werkzeug import Response

from tests.outbound.helpers import attempts, deliver, delivery, emit, subscribe, verify
from vani.extensions import db
from vani.models import WebhookSubscription
from vani.models.base import as_utc, utcnow
from vani.outbound import get_subscription, retry_delivery, retry_failed, rotate_secret


def test_delivery_is_signed_and_verifies_with_standardwebhooks(app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    sub, secret = subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit("meeting.scheduled", {"id": 42, "title": "Intro"})
    assert deliver() == 1
    [(request, _)] = httpserver.log
    body = verify(secret, request)
    d = delivery(delivery_id)
    assert body == {"id": d.msg_id, "type": "meeting.scheduled", "timestamp": body["timestamp"],
                    "data": {"id": 42, "title": "Intro"}}
    assert request.headers["webhook-id"] == d.msg_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Vani-Webhooks/")
    assert d.status == "delivered" and d.attempts == 1 and d.last_status_code == 200
    [attempt] = attempts(delivery_id)
    assert attempt.success and attempt.response_body == "thanks" and attempt.trigger == "scheduled"
    assert attempt.request_headers["webhook-id"] == d.msg_id
    assert get_subscription(sub.id).last_success_at is not None


def test_only_matching_subscriptions_get_a_delivery_and_fan_out_is_idempotent(app, httpserver):
    everything, _ = subscribe(httpserver.url_for("/all"))
    meetings, _ = subscribe(httpserver.url_for("/meetings"), ["meeting.*"])
    prospects, _ = subscribe(httpserver.url_for("/prospects"), ["prospect.created"])
    ids = emit("meeting.cancelled", {"id": 1})
    subs = sorted(delivery(i).subscription_id for i in ids)
    assert subs == sorted([everything.id, meetings.id])
    from vani.models import OutboundEvent
    from vani.outbound.fanout import fan_out

    event = db.session.query(OutboundEvent).one()
    again = {"id": event.id, "org_id": event.org_id, "msg_id": event.msg_id, "type": event.type, "data": event.data}
    assert fan_out([again]) == []  # the (event, subscription) pair is unique: nothing new


def test_500_then_200_delivers_once_with_two_attempts(app, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=200)
    sub, _ = subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    t0 = utcnow()
    deliver(now=t0)
    d = delivery(delivery_id)
    assert d.status == "pending" and d.attempts == 1 and d.last_status_code == 500 and d.last_error == "HTTP 500"
    assert timedelta(seconds=4.9) < as_utc(d.next_attempt_at) - t0 < timedelta(seconds=6)  # 5 s, no jitter in tests
    assert deliver(now=t0 + timedelta(seconds=2)) == 0  # not due yet
    assert get_subscription(sub.id).consecutive_failures == 1
    deliver(now=t0 + timedelta(seconds=6))
    d = delivery(delivery_id)
    assert d.status == "delivered" and d.attempts == 2 and d.last_error is None
    assert [a.status_code for a in attempts(delivery_id)] == [500, 200]
    assert [a.number for a in attempts(delivery_id)] == [1, 2]
    assert len(httpserver.log) == 2
    assert deliver(now=t0 + timedelta(hours=1)) == 0  # nothing left: delivered once
    assert get_subscription(sub.id).consecutive_failures == 0


def test_jittered_retry_uses_the_injected_random_source(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("no", status=502)
    app.config["VANI_RETRY_JITTER"] = True
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    t0 = utcnow()
    deliver(now=t0, rng=random.Random(1))
    wait = (as_utc(delivery(delivery_id).next_attempt_at) - t0).total_seconds()
    expected = 5 * (1 + 0.1 * (2 * random.Random(1).random() - 1))
    assert abs(wait - expected) < 0.5 and 4.5 <= wait <= 5.6


def test_every_attempt_failing_ends_failed_after_the_schedule(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    app.config["VANI_RETRY_SCHEDULE"] = "1s,1m"
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    t0 = utcnow()
    for step in (0, 2, 200):
        deliver(now=t0 + timedelta(seconds=step))
    d = delivery(delivery_id)
    assert d.status == "failed" and d.attempts == 3 and d.next_attempt_at is None
    assert deliver(now=t0 + timedelta(days=1)) == 0
    # a manual retry is one more recorded attempt
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("ok", status=200)
    assert retry_failed() == 1
    deliver(now=t0 + timedelta(days=1))
    d = delivery(delivery_id)
    assert d.status == "delivered" and d.attempts == 4
    assert [a.trigger for a in attempts(delivery_id)] == ["scheduled"] * 3 + ["manual"]


def test_410_gone_disables_the_subscription_and_cancels_waiting_deliveries(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("gone", status=410)
    app.config["VANI_SEND_PER_SUBSCRIPTION"] = 1  # one send at a time: the second waits for the first's answer
    sub, _ = subscribe(httpserver.url_for("/hook"))
    first, second = emit(key="a"), emit(key="b")
    deliver()
    s = get_subscription(sub.id)
    db.session.refresh(s)
    assert not s.active and "410" in s.disabled_reason and s.disabled_at is not None
    statuses = sorted([delivery(first[0]).status, delivery(second[0]).status])
    assert statuses == ["cancelled", "failed"]
    assert len(httpserver.log) == 1  # the second was not sent after the 410
    assert emit(key="c") == []  # disabled subscriptions get no new deliveries


def test_retry_after_is_honoured(app, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "90"}))
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    t0 = utcnow()
    deliver(now=t0)
    d = delivery(delivery_id)
    assert d.status == "pending" and d.last_status_code == 429
    assert timedelta(seconds=89) < as_utc(d.next_attempt_at) - t0 < timedelta(seconds=92)
    assert deliver(now=t0 + timedelta(seconds=60)) == 0  # the 5 s schedule is not used
    deliver(now=t0 + timedelta(seconds=92))
    assert delivery(delivery_id).status == "delivered"


def test_a_wild_retry_after_never_undoes_the_rest_of_the_batch(app, httpserver):
    """One receiver answers 429 with an absurd Retry-After; the healthy deliveries sent in the same
    batch are recorded delivered once, and the 429 one waits a day at most."""
    for value in ("99999999999999999999", "-5", "٣٠", "Fri, 31 Dec 9999 23:59:59 GMT"):
        httpserver.expect_request(f"/slow/{len(value)}").respond_with_response(
            Response("slow down", status=429, headers={"Retry-After": value}))
    httpserver.expect_request("/ok").respond_with_data("ok")
    healthy, _ = subscribe(httpserver.url_for("/ok"))
    for value in ("99999999999999999999", "-5", "٣٠", "Fri, 31 Dec 9999 23:59:59 GMT"):
        subscribe(httpserver.url_for(f"/slow/{len(value)}"))
    ids = emit() + emit(key="second")
    t0 = utcnow()
    assert deliver(now=t0) == 10
    by_sub = {}
    for i in ids:
        d = delivery(i)
        by_sub.setdefault(d.subscription_id, []).append(d)
    assert [d.status for d in by_sub.pop(healthy.id)] == ["delivered", "delivered"]
    for slow in by_sub.values():
        for d in slow:
            assert d.status == "pending" and d.last_status_code == 429
            assert t0 < as_utc(d.next_attempt_at) <= t0 + timedelta(hours=24, seconds=5)
    assert deliver(now=t0 + timedelta(seconds=1)) == 0  # nothing sent twice
    assert len([r for r, _ in httpserver.log if r.path == "/ok"]) == 2


def test_failing_every_attempt_for_five_days_disables_with_the_reason(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    app.config["VANI_RETRY_SCHEDULE"] = "1d,1d,1d,1d,1d,1d,1d"
    sub, _ = subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    t0 = utcnow()
    for day in range(5):
        deliver(now=t0 + timedelta(days=day, minutes=day))
        assert get_subscription(sub.id).active
    deliver(now=t0 + timedelta(days=5, minutes=10))
    s = db.session.get(WebhookSubscription, sub.id, populate_existing=True)
    assert not s.active and "5 days" in s.disabled_reason and s.consecutive_failures == 6
    assert delivery(delivery_id).status == "cancelled"


def test_a_success_resets_the_failure_streak(app, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("x", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("x", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=200)
    sub, _ = subscribe(httpserver.url_for("/hook"))
    emit(key="a")
    emit(key="b")
    t0 = utcnow()
    deliver(now=t0)
    s = db.session.get(WebhookSubscription, sub.id, populate_existing=True)
    assert s.consecutive_failures == 2 and s.first_failure_at is not None
    deliver(now=t0 + timedelta(seconds=6))
    s = db.session.get(WebhookSubscription, sub.id, populate_existing=True)
    # one of the two retries succeeded: the streak restarts with what failed after it
    assert s.last_success_at is not None and s.consecutive_failures in (0, 1)


def test_rotation_sends_both_signatures_for_24_hours_then_only_the_new(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    sub, old = subscribe(httpserver.url_for("/hook"))
    t0 = utcnow()
    _, new = rotate_secret(sub.id, now=t0)
    assert new != old
    emit(key="a")
    deliver(now=t0 + timedelta(hours=23))
    request = httpserver.log[-1][0]
    assert request.headers["webhook-signature"].count("v1,") == 2
    assert verify(new, request) and verify(old, request)  # receivers on either secret accept it
    emit(key="b")
    deliver(now=t0 + timedelta(hours=24, minutes=1))
    request = httpserver.log[-1][0]
    assert request.headers["webhook-signature"].count("v1,") == 1
    assert verify(new, request)
    import pytest
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        verify(old, request)


def test_manual_retry_of_a_delivered_delivery_is_recorded_as_an_attempt(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    deliver()
    retry_delivery(delivery_id)
    assert delivery(delivery_id).status == "pending" and delivery(delivery_id).manual
    deliver()
    assert [a.trigger for a in attempts(delivery_id)] == ["scheduled", "manual"]
    assert delivery(delivery_id).attempts == 2 and not delivery(delivery_id).manual
    first, second = (r for r, _ in httpserver.log)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # receivers can dedupe


def test_redirects_are_not_followed(app, httpserver):
    httpserver.expect_request("/hook").respond_with_response(
        Response("", status=302, headers={"Location": "http://example.com/elsewhere"}))
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    deliver()
    d = delivery(delivery_id)
    assert d.status == "pending" and d.last_status_code == 302
    assert "redirect not followed" in d.last_error and "example.com" not in d.last_error  # no Location copied
    assert len(httpserver.log) == 1


def test_a_slow_receiver_hands_the_rest_of_a_claim_back_when_the_job_time_is_up(app, httpserver):
    import time as clock

    def slow(request):
        clock.sleep(0.4)
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    app.config["VANI_DRAIN_SECONDS"] = 0.5
    app.config["VANI_SEND_PER_SUBSCRIPTION"] = 1  # the three go one after the other
    subscribe(httpserver.url_for("/slow"))
    ids = emit(key="a") + emit(key="b") + emit(key="c")
    from vani.outbound.delivery_lane import DELIVERIES
    from vani.work import claims, runner

    claim = claims.claim(DELIVERIES, app.config)
    runner.run_claim(DELIVERIES, claim)
    states = [(delivery(i).status, delivery(i).attempts) for i in ids]
    assert states[:2] == [("delivered", 1), ("delivered", 1)]
    assert states[2] == ("pending", 0)  # handed back, not counted as an attempt
    assert deliver() == 1 and delivery(ids[2]).status == "delivered"


def test_a_delivered_send_logs_at_debug_and_a_failed_one_at_info(app, httpserver, caplog):
    import logging

    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/down").respond_with_data("boom", status=500)
    subscribe(httpserver.url_for("/ok"))
    subscribe(httpserver.url_for("/down"))
    emit()
    with caplog.at_level(logging.DEBUG, logger="vani.outbound.delivery"):
        assert deliver() == 2
    lines = {(r.levelno, r.getMessage().rsplit(": ", 1)[1].split(" in ")[0]) for r in caplog.records
             if r.name == "vani.outbound.delivery"}
    assert lines == {(logging.DEBUG, "200"), (logging.INFO, "500")}


def test_credentials_in_a_subscription_url_are_sent_as_basic_auth(app, httpserver):
    import base64

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook").replace("://", "://crm%40team:s3cret%21@"))
    emit()
    assert deliver() == 1
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"crm@team:s3cret!").decode()
    assert request.path == "/hook"


def test_an_answer_with_a_nul_byte_is_kept_as_text_and_the_delivery_delivered(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data(b"ok\x00then", status=200)
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    assert deliver() == 1
    assert delivery(delivery_id).status == "delivered"
    assert [a.response_body for a in attempts(delivery_id)] == ["ok\ufffdthen"]


def test_outcomes_whose_attempts_cannot_be_stored_are_failed_by_the_claim_not_left_sending(app, httpserver,
                                                                                             monkeypatch):
    """Should storing the attempts fail after the states were written, the transaction is gone
    and so are those states: the rows must not stay ``delivering`` until their lease runs out."""
    from vani.outbound import delivery_lane

    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()

    def refuse(claim, mine):
        raise RuntimeError("the database refused the attempts")

    monkeypatch.setattr(delivery_lane, "_record_written", refuse)
    deliver()
    d = delivery(delivery_id)
    assert d.status == "pending" and d.lease_token is None and d.attempts == 1
    assert "the database refused the attempts" in d.last_error
