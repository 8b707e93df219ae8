"""Kapso: signatures, single and batched bodies (every shared fixture), the older flat shape,
idempotency keys, and what the worker makes of them."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from tests.paths import shared_fixture_dir
from tests.whatsapp_signing import kapso_headers, post_kapso
from vani.models.base import as_utc
from vani.models import Conversation, Message, OutboundEvent, Prospect, RejectedCall, WebhookEvent

# Single bodies carry no event name: Kapso sends it in X-Webhook-Event.
FIXTURE_EVENTS = {
    "docs_batch_message_received": "whatsapp.message.received",
    "docs_conversation_created": "whatsapp.conversation.created",
    "docs_conversation_ended": "whatsapp.conversation.ended",
    "docs_conversation_inactive": "whatsapp.conversation.inactive",
    "docs_fragment_message_received_audio": "whatsapp.message.received",
    "docs_fragment_message_received_image": "whatsapp.message.received",
    "docs_message_delivered": "whatsapp.message.delivered",
    "docs_message_failed": "whatsapp.message.failed",
    "docs_message_received_text": "whatsapp.message.received",
    "docs_message_sent": "whatsapp.message.sent",
}


def fixture_bodies():
    folder = shared_fixture_dir("kapso")
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".headers.json"):
            continue
        headers_file = folder / (path.stem + ".headers.json")
        recorded = json.loads(headers_file.read_text()) if headers_file.exists() else {}
        yield path.stem, path.read_bytes(), recorded


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_every_shared_fixture_through_the_endpoint(client, run_worker, db):
    seen = 0
    for stem, body, recorded in fixture_bodies():
        event = recorded.get("X-Webhook-Event") or FIXTURE_EVENTS[stem]
        r = post_kapso(client, body, event, batch=recorded.get("X-Webhook-Batch") == "true")
        assert r.status_code == 200, (stem, r.json)
        assert r.json["status"] == "accepted", stem
        seen += 1
    assert seen == len(FIXTURE_EVENTS)
    run_worker()
    events = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars().all()
    assert len(events) == len(FIXTURE_EVENTS) + 1  # the batch holds two
    outcomes = {(e.status, e.outcome) for e in events if e.status != "processed"}
    # Fragments show only the message part: no conversation, no number to attach it to.
    assert outcomes == {("ignored", "the message names neither a conversation nor the customer's phone number")}
    msgs = {m.provider_message_id: m for m in db.session.execute(select(Message)).scalars()}
    assert set(msgs) == {"wamid.111", "wamid.112", "wamid.123", "wamid.456", "wamid.789"}
    assert [msgs[k].text for k in ("wamid.111", "wamid.112", "wamid.123")] == ["First in batch", "Second in batch", "Hello"]
    sent = msgs["wamid.456"]  # delivered arrived before sent: stays delivered, both steps timed
    assert (sent.direction, sent.status) == ("outbound", "delivered")
    assert as_utc(sent.sent_at).timestamp() == 1730092860 and as_utc(sent.delivered_at).timestamp() == 1730092888
    failed = msgs["wamid.789"]
    assert (failed.status, failed.error_code) == ("failed", "131047")
    assert "24 hours" in failed.error_detail
    conv = db.session.execute(select(Conversation).where(Conversation.provider_ref == "conv_123")).scalar_one()
    assert {m.provider_message_id for m in conv.messages} == {"wamid.111", "wamid.112", "wamid.123", "wamid.456", "wamid.789"}
    prospect = db.session.get(Prospect, conv.prospect_id)
    assert (prospect.phone, prospect.name, prospect.source) == ("+15551234567", "John Doe", "kapso")
    assert count(db, Prospect) == 1
    # created, ended, then a stale "inactive": the conversation stays ended.
    assert db.session.execute(select(Conversation.status).where(Conversation.provider_ref == "conv_789")).scalar_one() == "ended"
    assert count(db, OutboundEvent, OutboundEvent.type == "message.received") == 3
    assert count(db, OutboundEvent, OutboundEvent.type == "message.status_updated") == 2


def test_batch_items_are_stored_and_deduplicated_each(client, run_worker, db):
    stem, body, recorded = next(f for f in fixture_bodies() if f[0] == "docs_batch_message_received")
    r = post_kapso(client, body, recorded["X-Webhook-Event"], idem="batch-1", batch=True)
    assert r.status_code == 200 and len(r.json["event_ids"]) == 2
    again = post_kapso(client, body, recorded["X-Webhook-Event"], idem="batch-1", batch=True)
    assert again.json == {"status": "duplicate", "event_ids": r.json["event_ids"]}
    keys = db.session.execute(select(WebhookEvent.dedupe_key).order_by(WebhookEvent.id)).scalars().all()
    assert keys == ["whatsapp.message.received:wamid.111", "whatsapp.message.received:wamid.112"]
    # Without X-Webhook-Batch the body's own batch flag is enough; another idempotency key (an
    # unsigned header) changes nothing: the same messages are duplicates.
    r3 = post_kapso(client, body, None, idem="batch-2")
    assert r3.json == {"status": "duplicate", "event_ids": r.json["event_ids"]}
    run_worker()
    assert count(db, Message) == 2
    assert count(db, OutboundEvent, OutboundEvent.type == "message.received") == 2


def test_a_redelivery_is_a_duplicate_whatever_its_unsigned_headers_say(client, db, run_worker):
    stem, body, recorded = next(f for f in fixture_bodies() if f[0] == "docs_message_received_text")
    first = post_kapso(client, body, "whatsapp.message.received", idem="k-1")
    second = post_kapso(client, body, "whatsapp.message.received", idem="k-1")
    assert first.json["status"] == "accepted" and second.json["status"] == "duplicate"
    assert second.json["event_id"] == first.json["event_id"]
    # A captured body replayed as another event, under a new idempotency key: still the same event.
    replay = post_kapso(client, body, "whatsapp.conversation.ended", idem="k-2")
    assert replay.json == {"status": "duplicate", "event_id": first.json["event_id"]}
    run_worker()
    from vani.models import Conversation

    assert db.session.execute(select(Conversation.status)).scalar_one() == "active"


def test_the_event_type_comes_from_the_body_not_the_header(client, db):
    stem, body, recorded = next(f for f in fixture_bodies() if f[0] == "docs_message_delivered")
    r = post_kapso(client, body, "whatsapp.conversation.ended")
    event = db.session.get(WebhookEvent, r.json["event_id"])
    assert event.event_type == "whatsapp.message.delivered"


def test_a_body_far_older_than_the_replay_window_is_refused(client, app, db):
    app.config["VANI_KAPSO_MAX_AGE_SECONDS"] = 7 * 86400
    stem, body, recorded = next(f for f in fixture_bodies() if f[0] == "docs_message_received_text")
    r = post_kapso(client, body, "whatsapp.message.received")  # captured in October 2025
    assert r.status_code == 401 and r.json["error"] == "stale_timestamp"
    import time as clock

    fresh = json.loads(body)
    fresh["message"]["timestamp"] = str(int(clock.time()) - 60)
    fresh["conversation"]["updated_at"] = "2025-10-28T14:25:01Z"
    r = post_kapso(client, json.dumps(fresh).encode(), "whatsapp.message.received")
    assert r.status_code == 200 and r.json["status"] == "accepted"
    fresh["message"]["timestamp"] = str(int(clock.time()) + 7200)  # from the future: not Kapso's either
    r = post_kapso(client, json.dumps(fresh).encode(), "whatsapp.message.received")
    assert r.status_code == 401 and r.json["error"] == "stale_timestamp"
    assert count(db, WebhookEvent) == 1  # only the fresh one
    assert count(db, RejectedCall, RejectedCall.reason == "stale_timestamp") == 2


def test_signatures(client, db):
    body = json.dumps({"message": {"id": "wamid.s1"}}).encode()
    ok = client.post("/api/webhooks/kapso", data=body,
                     headers=kapso_headers(body, "whatsapp.message.sent", header="X-Kapso-Signature"))
    assert ok.status_code == 200
    # The alternate route answers the same way.
    ok2 = client.post("/api/whatsapp/webhook", data=body, headers=kapso_headers(body, "whatsapp.message.read"))
    assert ok2.status_code == 200
    bad = client.post("/api/webhooks/kapso", data=body, headers=kapso_headers(body, "x", secret="wrong"))
    assert bad.status_code == 401 and bad.json["error"] == "invalid_signature"
    missing = client.post("/api/webhooks/kapso", data=body, headers={"X-Webhook-Event": "x"})
    assert missing.status_code == 401 and missing.json["error"] == "missing_signature"
    tampered = client.post("/api/webhooks/kapso", data=body + b" ", headers=kapso_headers(body, "x"))
    assert tampered.status_code == 401
    assert count(db, RejectedCall, RejectedCall.provider == "kapso") == 3
    assert count(db, WebhookEvent) == 2  # the two signed calls, each stored once


def test_bad_bodies_are_400(client, db):
    for body, code in ((b"not json", "invalid_json"), (b"[1]", "not_an_object"),
                       (json.dumps({"message": {}}).encode(), "missing_event")):
        r = client.post("/api/webhooks/kapso", data=body, headers=kapso_headers(body))
        assert r.status_code == 400 and r.json["error"] == code, body
    batch = json.dumps({"type": "whatsapp.message.received", "batch": True, "data": []}).encode()
    r = client.post("/api/webhooks/kapso", data=batch, headers=kapso_headers(batch))
    assert r.status_code == 400 and r.json["error"] == "missing_batch_data"
    assert count(db, WebhookEvent) == 0
    reasons = db.session.execute(select(RejectedCall.reason).order_by(RejectedCall.id)).scalars().all()
    assert reasons == ["invalid_json", "not_an_object", "missing_event", "missing_batch_data"]


def test_batch_item_that_is_not_an_object_is_stored_and_ignored(client, run_worker, db):
    """Each item is its own event: an odd one never costs its neighbours their delivery."""
    good = {"message": {"id": "wamid.ok1", "type": "text", "text": {"body": "hi"}, "from": "15550100044",
                        "kapso": {"direction": "inbound"}}}
    batch = json.dumps({"type": "whatsapp.message.received", "batch": True, "data": ["x", good]}).encode()
    r = client.post("/api/webhooks/kapso", data=batch, headers=kapso_headers(batch))
    assert r.status_code == 200 and r.json["status"] == "accepted" and len(r.json["event_ids"]) == 2
    run_worker()
    odd, ok = (db.session.get(WebhookEvent, i) for i in r.json["event_ids"])
    assert (odd.status, odd.outcome) == ("ignored", "the payload is not an object")
    assert ok.status == "processed" and db.session.execute(select(Message)).scalar_one().text == "hi"


def test_older_flat_shape(client, run_worker, db):
    body = {"event_type": "message_received", "conversation_id": "conv_old_1", "message_id": "wamid.old1",
            "payload": {"from": "+44 7700 900123", "content": "Is Tuesday free?", "message_type": "text",
                        "contact": {"name": "Priya Shah", "phone": "+447700900123"}}}
    r = post_kapso(client, body)
    assert r.status_code == 200, r.json
    run_worker()
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert event.event_type == "message_received" and event.status == "processed", event.outcome
    msg = db.session.execute(select(Message)).scalar_one()
    assert (msg.text, msg.direction, msg.conversation.provider_ref) == ("Is Tuesday free?", "inbound", "conv_old_1")
    prospect = db.session.get(Prospect, msg.conversation.prospect_id)
    assert (prospect.phone, prospect.name) == ("+447700900123", "Priya Shah")


def test_unknown_event_is_ignored_with_reason(client, run_worker, db):
    r = post_kapso(client, {"phone_number_id": "1"}, "whatsapp.config.created")
    assert r.status_code == 200
    run_worker()
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert event.status == "ignored" and "not handled" in event.outcome
