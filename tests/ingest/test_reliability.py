"""Dedupe under concurrency, Redis down (stored, swept later), database down (503)."""
from __future__ import annotations

import json
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.exc import OperationalError

from tests import bookings as bs
from tests.bookings import calendly, invitee_uri
from tests.signing import calendly_headers, post_calendly
from vani.models import Meeting, Prospect, WebhookEvent
from vani.work import sweep


def test_redelivery_is_a_duplicate_and_not_reprocessed(client, run_worker):
    body = calendly("invitee.created")
    first = post_calendly(client, body)
    assert run_worker() >= 1
    again = post_calendly(client, body)
    assert again.status_code == 200 and again.json == {"status": "duplicate", "event_id": first.json["event_id"]}
    assert run_worker() == 0  # nothing was queued
    ev = bs.event(first.json["event_id"])
    assert ev.attempts == 1 and bs.count(WebhookEvent) == 1


def test_twenty_concurrent_identical_deliveries_store_one_event_and_one_meeting(app, run_worker):
    body = json.dumps(calendly("invitee.created")).encode()
    headers = calendly_headers(body)
    barrier = threading.Barrier(20)
    answers: list = []
    errors: list = []

    def deliver():
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            r = client.post("/api/webhooks/calendly", data=body, headers=headers)
            answers.append((r.status_code, r.json))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(answers) == 20
    assert {status for status, _ in answers} == {200}
    assert sorted(a["status"] for _, a in answers).count("accepted") == 1
    assert len({a["event_id"] for _, a in answers}) == 1
    assert bs.count(WebhookEvent) == 1
    run_worker()
    assert bs.count(Meeting) == 1 and bs.count(Prospect) == 1
    assert bs.event(answers[0][1]["event_id"]).status == "processed"


def dead_redis() -> redis.Redis:
    """A client for a port nothing listens on, failing fast (no retries)."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))


def test_redis_down_stores_the_event_and_the_sweep_hands_it_over(client, app, run_worker):
    from vani.extensions import redis_ext

    real = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        r = post_calendly(client, calendly("invitee.created"))
        assert r.status_code == 200 and r.json["status"] == "accepted" and r.json["queued"] is False
        # While Redis is away the sweep cannot wake a worker either, and says so.
        redis_ext.reset()
        [events] = [s for s in sweep.run() if s.lane == "events"]
        assert events.due and not events.woken
    finally:
        app.extensions["vani_redis"] = real
    assert bs.event(r.json["event_id"]).status == "received"
    assert run_worker() == 0  # nothing reached the queue
    redis_ext.reset()
    assert [s.woken for s in sweep.run() if s.lane == "events"] == [True]
    run_worker()
    assert bs.event(r.json["event_id"]).status == "processed"
    assert bs.meeting("calendly", invitee_uri(1)).status == "scheduled"


def boom(*args, **kwargs):
    raise OperationalError("INSERT INTO webhook_events", {}, Exception("could not connect to server"))


def test_database_down_answers_503_json(client, monkeypatch):
    from vani.ingest import group_commit

    monkeypatch.setattr(group_commit, "write_rows", boom)
    r = post_calendly(client, calendly("invitee.created"))
    assert r.status_code == 503 and r.is_json and r.json["error"] == "database_unavailable"
    assert bs.count(WebhookEvent) == 0
    monkeypatch.undo()
    r = post_calendly(client, calendly("invitee.created"))  # the provider's retry succeeds
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert bs.count(WebhookEvent) == 1 and bs.event(r.json["event_id"]).status == "received"


def test_database_down_while_loading_secrets_answers_503(client, monkeypatch):
    from vani import ingest

    monkeypatch.setattr(ingest, "secrets_for", boom)
    r = post_calendly(client, calendly("invitee.created"))
    assert r.status_code == 503 and r.json["error"] == "database_unavailable"
    assert bs.count(WebhookEvent) == 0
