"""Gmail Pub/Sub push: token auth, envelope decoding (checked against the decoded fixtures),
dedupe on the Pub/Sub message id, and the honest "ignored" outcome."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from tests.paths import shared_fixture_dir
from vani.models import RejectedCall, WebhookEvent
from vani.plugins.contract import BadPayload
from vani.providers.gmail import IGNORED_REASON, decode_data

TOKEN = "gmail-push-test-token"


@pytest.fixture
def gmail(app):
    app.config["GMAIL_PUSH_TOKEN"] = TOKEN
    return app


def push_fixtures():
    folder = shared_fixture_dir("gmail")
    bodies = [p for p in sorted(folder.glob("*.json"))
              if not p.name.endswith((".headers.json", ".decoded_data.json"))]
    assert bodies
    return [(p, folder / (p.stem + ".decoded_data.json")) for p in bodies]


def test_decoding_matches_the_decoded_fixtures():
    for body_path, decoded_path in push_fixtures():
        envelope = json.loads(body_path.read_text())
        assert decode_data(envelope["message"]["data"]) == json.loads(decoded_path.read_text()), body_path.name


def test_every_fixture_through_the_endpoint(client, gmail, run_worker, db):
    for i, (body_path, _decoded) in enumerate(push_fixtures()):
        body = body_path.read_bytes()
        # Both ways Pub/Sub push can carry the shared token.
        if i % 2 == 0:
            r = client.post(f"/api/webhooks/gmail?token={TOKEN}", data=body, content_type="application/json")
        else:
            r = client.post("/api/webhooks/gmail", data=body, content_type="application/json",
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json["status"] == "accepted", (body_path.name, r.json)
        again = client.post(f"/api/webhooks/gmail?token={TOKEN}", data=body, content_type="application/json")
        assert again.json == {"status": "duplicate", "event_id": r.json["event_id"]}
    run_worker()
    events = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars().all()
    assert len(events) == len(push_fixtures())
    for event, (body_path, decoded_path) in zip(events, push_fixtures()):
        envelope, decoded = json.loads(body_path.read_text()), json.loads(decoded_path.read_text())
        assert event.dedupe_key == f"pubsub:{envelope['message']['messageId']}"
        assert event.payload["decoded"] == {"emailAddress": decoded["emailAddress"],
                                            "historyId": str(decoded["historyId"])}
        assert (event.status, event.outcome) == ("ignored", IGNORED_REASON)
        assert event.subject_email == decoded["emailAddress"]


def test_token_required(client, gmail, db):
    body = push_fixtures()[0][0].read_bytes()
    r = client.post("/api/webhooks/gmail", data=body, content_type="application/json")
    assert r.status_code == 401 and r.json["error"] == "missing_token"
    r = client.post("/api/webhooks/gmail?token=wrong", data=body, content_type="application/json")
    assert r.status_code == 401 and r.json["error"] == "invalid_token"
    r = client.post("/api/webhooks/gmail", data=body, content_type="application/json",
                    headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    rows = db.session.execute(select(RejectedCall)).scalars().all()
    assert len(rows) == 3
    # The rejected-call record never keeps the Authorization header.
    assert all("Authorization" not in row.headers for row in rows)


def envelope(data: str, **message) -> bytes:
    return json.dumps({"message": {"data": data, "messageId": "m-1", **message},
                       "subscription": "projects/p/subscriptions/s"}).encode()


def test_malformed_envelopes_are_400(client, gmail, db):
    cases = [
        (b"{}", "missing_message"),
        (json.dumps({"message": {"data": "e30="}}).encode(), "missing_message_id"),
        (json.dumps({"message": {"messageId": "1"}}).encode(), "missing_data"),
        (envelope("%%%not base64"), "invalid_data"),
        (envelope(base64.b64encode(b"[1, 2]").decode()), "invalid_data"),
        (envelope(base64.b64encode(b"not json").decode()), "invalid_data"),
    ]
    for body, code in cases:
        r = client.post(f"/api/webhooks/gmail?token={TOKEN}", data=body, content_type="application/json")
        assert r.status_code == 400 and r.json["error"] == code, (body, r.json)
    assert db.session.execute(select(WebhookEvent)).scalars().all() == []
    reasons = db.session.execute(select(RejectedCall.reason).order_by(RejectedCall.id)).scalars().all()
    assert reasons == [code for _, code in cases]


def test_unpadded_and_urlsafe_data_decode():
    raw = json.dumps({"emailAddress": "sales@example.com", "historyId": 99}).encode()
    assert decode_data(base64.urlsafe_b64encode(raw).decode().rstrip("="))["historyId"] == 99
    with pytest.raises(BadPayload):
        decode_data("a")
