"""``Idempotency-Key`` on the API's creating requests: replayed answers, reused keys, keys per
token, concurrent repeats, expiry, and a failed first try that frees its key."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text, update

from tests.outbound.helpers import subscribe
from vani import retention
from vani.accounts.tokens import create_token
from vani.models import IdempotentRequest, WebhookDelivery, WebhookSubscription, idempotency
from vani.models.base import utcnow

SUBS = "/api/v1/webhooks/subscriptions"


def count(db, model) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def key(value: str) -> dict:
    return {"Idempotency-Key": value}


def test_a_repeat_gets_the_first_answer_and_creates_nothing(api, db, httpserver):
    body = {"url": httpserver.url_for("/hook"), "events": ["meeting.*"]}
    first = api.post(SUBS, json=body, headers=key("sub-1"))
    # The same JSON in another spelling is the same request.
    again = api.post(SUBS, data='{"events": ["meeting.*"],\n "url": "%s"}' % body["url"],
                     headers={**key("sub-1"), "Content-Type": "application/json"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and first.get_json()["secret"].startswith("whsec_")
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(db, WebhookSubscription) == 1
    without_key = api.post(SUBS, json=body)
    assert without_key.status_code == 201 and count(db, WebhookSubscription) == 2


def test_the_same_key_with_another_body_or_path_is_refused(api, db, httpserver):
    url = httpserver.url_for("/hook")
    assert api.post(SUBS, json={"url": url, "events": ["*"]}, headers=key("k")).status_code == 201
    other = api.post(SUBS, json={"url": url, "events": ["prospect.*"]}, headers=key("k"))
    assert other.status_code == 409 and other.get_json()["error"] == "idempotency_key_reused"
    elsewhere = api.post("/api/v1/webhooks/deliveries", json={"event": "x.y", "payload": {}}, headers=key("k"))
    assert elsewhere.status_code == 409 and elsewhere.get_json()["error"] == "idempotency_key_reused"
    assert count(db, WebhookSubscription) == 1


def test_keys_belong_to_their_token(app, api, client, db, httpserver):
    body = {"url": httpserver.url_for("/hook"), "events": ["*"]}
    mine = api.post(SUBS, json=body, headers=key("shared"))
    token = create_token("crm", ["subscriptions"])[1]
    theirs = client.post(SUBS, json=body, headers={**key("shared"), "Authorization": f"Bearer {token}"})
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"] and count(db, WebhookSubscription) == 2


def test_custom_events_and_retries_are_idempotent(api, db, httpserver):
    subscribe(httpserver.url_for("/hook"))
    emit = {"event": "deal.won", "payload": {"amount": 3}}
    first = api.post("/api/v1/webhooks/deliveries", json=emit, headers=key("emit-1"))
    again = api.post("/api/v1/webhooks/deliveries", json=emit, headers=key("emit-1"))
    assert first.status_code == again.status_code == 202 and again.get_json() == first.get_json()
    assert count(db, WebhookDelivery) == 1
    delivery_id = first.get_json()["delivery_ids"][0]
    retry = f"/api/v1/webhooks/deliveries/{delivery_id}/retry"
    r1, r2 = api.post(retry, headers=key("retry-1")), api.post(retry, headers=key("retry-1"))
    assert r1.status_code == r2.status_code == 202 and r2.headers["Idempotent-Replayed"] == "true"


def test_an_error_answer_is_replayed_with_its_status(api, db):
    bad = {"url": "ftp://x.test/", "events": ["*"]}
    first, again = api.post(SUBS, json=bad, headers=key("bad")), api.post(SUBS, json=bad, headers=key("bad"))
    assert first.status_code == again.status_code == 400 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("value", ["", "   ", "x" * 201, "caf\u00e9", "tab\there"])
def test_unusable_keys_are_refused(api, db, httpserver, value):
    r = api.post(SUBS, json={"url": httpserver.url_for("/h"), "events": ["*"]}, headers=key(value))
    assert r.status_code == 400 and r.get_json()["field"] == "Idempotency-Key"
    assert count(db, WebhookSubscription) == 0 and count(db, IdempotentRequest) == 0


def test_a_first_try_that_failed_frees_its_key(app, api, db, httpserver, monkeypatch):
    from vani import outbound

    real = outbound.create_subscription
    monkeypatch.setattr(outbound, "create_subscription", lambda *a, **kw: 1 / 0)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = {"url": httpserver.url_for("/hook"), "events": ["*"]}
    assert api.post(SUBS, json=body, headers=key("flaky")).status_code == 500
    assert count(db, IdempotentRequest) == 0
    monkeypatch.setattr(outbound, "create_subscription", real)
    assert api.post(SUBS, json=body, headers=key("flaky")).status_code == 201


def test_a_key_in_flight_waits_then_says_so(app, api, db, httpserver, monkeypatch):
    body = {"url": httpserver.url_for("/hook"), "events": ["*"]}
    assert api.post(SUBS, json=body, headers=key("slow")).status_code == 201
    db.session.execute(update(IdempotentRequest).values(status=None, body=None))
    db.session.commit()
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
    r = api.post(SUBS, json=body, headers=key("slow"))
    assert r.status_code == 409 and r.get_json()["error"] == "idempotency_key_in_progress"
    # A claim left unanswered for a minute belonged to a request that died: it is taken over.
    db.session.execute(update(IdempotentRequest).values(created_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    assert api.post(SUBS, json=body, headers=key("slow")).status_code == 201
    assert count(db, WebhookSubscription) == 2


def test_keys_expire_after_a_day_and_are_purged(api, db, httpserver):
    body = {"url": httpserver.url_for("/hook"), "events": ["*"]}
    api.post(SUBS, json=body, headers=key("old"))
    db.session.execute(update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    again = api.post(SUBS, json={**body, "description": "new"}, headers=key("old"))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert count(db, WebhookSubscription) == 2
    db.session.execute(update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    assert retention.cleanup(30)["idempotent_requests"] == 1 and count(db, IdempotentRequest) == 0


def test_concurrent_requests_with_one_key_create_one_resource(app, live_server, api_token, db, httpserver):
    body = {"url": httpserver.url_for("/hook"), "events": ["*"]}
    headers = {"Authorization": f"Bearer {api_token}", **key("race")}
    start, answers = threading.Barrier(8), []

    def post():
        start.wait()
        answers.append(requests.post(live_server + SUBS, json=body, headers=headers, timeout=30))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 7
    assert count(db, WebhookSubscription) == 1


def _stored_answers(db) -> list[str]:
    """The answers as the database holds them, read past the model (bytes shown as text)."""
    raw = db.session.execute(text("SELECT body FROM idempotent_requests ORDER BY id")).scalars().all()
    db.session.rollback()
    return [bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else v for v in raw]


def test_stored_answers_are_encrypted_and_replayed_byte_for_byte(app, api, db, httpserver):
    created = api.post(SUBS, json={"url": httpserver.url_for("/hook"), "events": ["*"]}, headers=key("create"))
    secret = created.get_json()["secret"]
    rotate = f"{SUBS}/{created.get_json()['id']}/rotate-secret"
    rotated = api.post(rotate, headers=key("rotate"))
    new_secret = rotated.get_json()["secret"]
    stored = _stored_answers(db)
    assert len(stored) == 2 and all(stored)
    for value in (secret, new_secret, secret[len("whsec_"):], new_secret[len("whsec_"):]):
        assert all(value not in answer for answer in stored)
    for path, first, name in ((SUBS, created, "create"), (rotate, rotated, "rotate")):
        body = {"url": httpserver.url_for("/hook"), "events": ["*"]} if path == SUBS else None
        again = api.post(path, json=body, headers=key(name)) if body else api.post(path, headers=key(name))
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.status_code == first.status_code and again.get_data() == first.get_data()
        assert again.content_type == first.content_type

    old = app.config["VANI_ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    app.config["VANI_ENCRYPTION_KEYS"] = f"{new},{old}"
    try:
        result = app.test_cli_runner().invoke(args=["vani", "rotate-encryption-key"])
        assert result.exit_code == 0 and "idempotent_requests.body: 2 re-encrypted" in result.output
        assert all(a != b for a, b in zip(_stored_answers(db), stored))
        app.config["VANI_ENCRYPTION_KEYS"] = new  # the old key is gone: the answers still replay
        again = api.post(rotate, headers=key("rotate"))
        assert again.headers["Idempotent-Replayed"] == "true" and again.get_data() == rotated.get_data()
    finally:
        app.config["VANI_ENCRYPTION_KEYS"] = old
