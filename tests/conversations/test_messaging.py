"""Conversations and messages across providers: status ordering, exactly-once outbound events,
replays, phone matching with Calendly, and the read API."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.signing import post_calendly
from tests.whatsapp_signing import post_kapso, post_twilio
from vani.models import Conversation, Message, Notification, OutboundEvent, Prospect, WebhookEvent
from vani.models.base import as_utc


def status_body(sid: str, status: str, to: str = "%2B15550100007") -> str:
    return (f"SmsSid={sid}&SmsStatus={status}&MessageStatus={status}&To=whatsapp%3A{to}"
            f"&MessageSid={sid}&AccountSid=ACx&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01")


def inbound_body(sid: str, sender: str, text: str = "Hi", profile: str = "") -> str:
    return (f"SmsMessageSid={sid}&NumMedia=0&SmsStatus=received&Body={text}&To=whatsapp%3A%2B14155238886"
            f"&MessageSid={sid}&AccountSid=ACx&From=whatsapp%3A{sender}&ApiVersion=2010-04-01"
            + (f"&ProfileName={profile}" if profile else ""))


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def status_events(db) -> list[tuple[str, str | None]]:
    rows = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "message.status_updated")
                              .order_by(OutboundEvent.id)).scalars()
    return [(r.data["message"]["status"], r.data["previous_status"]) for r in rows]


def replay_all(db) -> None:
    from vani.processing.events import reprocess

    for event_id in db.session.execute(select(WebhookEvent.id).order_by(WebhookEvent.id)).scalars().all():
        assert reprocess(event_id) in ("processed", "ignored")


def test_late_delivered_never_overwrites_read_twilio(client, run_worker, db):
    post_twilio(client, status_body("SMo1", "sent"))
    post_twilio(client, status_body("SMo1", "read"))
    run_worker()
    post_twilio(client, status_body("SMo1", "delivered"))  # arrives last
    run_worker()
    msg = db.session.execute(select(Message)).scalar_one()
    assert msg.status == "read"
    assert msg.sent_at and msg.read_at and msg.delivered_at  # every step keeps its time
    assert status_events(db) == [("sent", "queued"), ("read", "sent")]
    replay_all(db)
    db.session.expire_all()
    assert db.session.get(Message, msg.id).status == "read"
    assert status_events(db) == [("sent", "queued"), ("read", "sent")]  # nothing emitted twice


def test_kapso_read_then_late_delivered(client, run_worker, db):
    conv = {"id": "conv_s", "phone_number": "+15550100007"}
    statuses = [{"id": "wamid.s", "status": s, "timestamp": str(t)} for s, t in
                (("sent", 1730000000), ("delivered", 1730000005), ("read", 1730000010))]
    read = {"message": {"id": "wamid.s", "timestamp": "1730000010", "type": "text", "text": {"body": "Offer"},
                        "kapso": {"direction": "outbound", "status": "read", "statuses": statuses}},
            "conversation": conv}
    late = {"message": {"id": "wamid.s", "timestamp": "1730000005", "type": "text", "text": {"body": "Offer"},
                        "kapso": {"direction": "outbound", "status": "delivered", "statuses": statuses[:2]}},
            "conversation": conv}
    post_kapso(client, read, "whatsapp.message.read")
    run_worker()
    post_kapso(client, late, "whatsapp.message.delivered")
    run_worker()
    msg = db.session.execute(select(Message)).scalar_one()
    assert (msg.status, msg.text) == ("read", "Offer")
    assert as_utc(msg.delivered_at).timestamp() == 1730000005 and as_utc(msg.read_at).timestamp() == 1730000010
    assert status_events(db) == [("read", "queued")]


def test_replay_creates_nothing_twice(client, run_worker, db):
    post_twilio(client, inbound_body("SMr1", "%2B15550100008", "Hello", "Rui"))
    post_twilio(client, inbound_body("SMr2", "%2B15550100008", "Again"))
    run_worker()
    before = (count(db, Prospect), count(db, Conversation), count(db, Message), count(db, OutboundEvent),
              count(db, Notification))
    assert before[:3] == (1, 1, 2)
    assert count(db, Notification, Notification.kind == "message.received") == 2
    assert count(db, Notification, Notification.kind == "prospect.created") == 1
    replay_all(db)
    after = (count(db, Prospect), count(db, Conversation), count(db, Message), count(db, OutboundEvent),
             count(db, Notification))
    assert after == before
    received = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "message.received")
                                  .order_by(OutboundEvent.id)).scalars().all()
    assert [e.data["message"]["text"] for e in received] == ["Hello", "Again"]
    assert received[0].data["prospect"]["name"] == "Rui"


def calendly_created(email: str, phone: str) -> dict:
    uri = "https://api.calendly.com/scheduled_events/EV1/invitees/INV1"
    return {"event": "invitee.created", "created_at": "2026-03-01T10:00:00.000000Z", "payload": {
        "uri": uri, "email": email, "name": "Marta Reyes", "timezone": "Europe/Madrid",
        "text_reminder_number": phone, "created_at": "2026-03-01T10:00:00.000000Z", "rescheduled": False,
        "old_invitee": None, "new_invitee": None, "status": "active",
        "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/EV1", "name": "Intro call",
                            "start_time": "2026-03-05T15:00:00.000000Z", "end_time": "2026-03-05T15:30:00.000000Z",
                            "location": {"type": "zoom", "join_url": "https://zoom.example/j/1"}}}}


def test_whatsapp_from_calendly_reminder_number_attaches_to_prospect(client, run_worker, db, api):
    r = post_calendly(client, calendly_created("marta@example.com", "+1 555-010-0042"))
    assert r.status_code == 200
    run_worker()
    prospect = db.session.execute(select(Prospect)).scalar_one()
    assert prospect.phone == "+15550100042"
    prospect_id = prospect.id
    # Twilio spells it whatsapp:+15550100042, Kapso "15550100042"-style without the plus.
    post_twilio(client, inbound_body("SMc1", "%2B15550100042", "Can+we+move+it", "Marta"))
    post_kapso(client, {"message": {"id": "wamid.c2", "timestamp": "1772900000", "type": "text",
                                    "text": {"body": "Or Thursday?"}, "kapso": {"direction": "inbound"}},
                        "conversation": {"id": "conv_c", "phone_number": "15550100042"}},
               "whatsapp.message.received")
    run_worker()
    assert count(db, Prospect) == 1
    convs = db.session.execute(select(Conversation).order_by(Conversation.id)).scalars().all()
    assert [(c.provider, c.prospect_id) for c in convs] == [("twilio", prospect_id), ("kapso", prospect_id)]
    events = db.session.execute(select(WebhookEvent).where(WebhookEvent.provider != "calendly")).scalars().all()
    assert {e.prospect_id for e in events} == {prospect_id}
    for spelling in ("+15550100042", "+1 (555) 010-0042", "1-555-010-0042", "whatsapp:+15550100042", "15550100042"):
        found = api.get("/api/v1/prospects", query_string={"phone": spelling}).json["data"]
        assert [p["id"] for p in found] == [prospect_id], spelling
    # A raw "+" in a query string arrives as a space: still found.
    assert [p["id"] for p in api.get("/api/v1/prospects?phone=+15550100042").json["data"]] == [prospect_id]
    assert api.get("/api/v1/prospects?phone=%2B15550100099").json["data"] == []
    bad = api.get("/api/v1/prospects?phone=hello")
    assert bad.status_code == 400 and bad.json["field"] == "phone"


def test_whatsapp_first_then_calendly_fills_the_same_prospect(client, run_worker, db):
    post_twilio(client, inbound_body("SMd1", "%2B15550100043", "Hi", "Leo"))
    run_worker()
    post_calendly(client, calendly_created("leo@example.com", "+15550100043"))
    run_worker()
    prospect = db.session.execute(select(Prospect)).scalar_one()
    assert (prospect.email, prospect.phone, prospect.name) == ("leo@example.com", "+15550100043", "Leo")


def test_conversation_api(client, run_worker, db, api):
    post_twilio(client, inbound_body("SMa1", "%2B15550100044", "First", "Ida"))
    post_twilio(client, status_body("SMa2", "delivered", to="%2B15550100044"))
    post_twilio(client, inbound_body("SMb1", "%2B15550100045", "Other"))
    run_worker()
    listed = api.get("/api/v1/conversations").json
    assert len(listed["data"]) == 2 and listed["next_cursor"] is None
    page1 = api.get("/api/v1/conversations?limit=1").json
    page2 = api.get(f"/api/v1/conversations?limit=1&cursor={page1['next_cursor']}").json
    assert {page1["data"][0]["id"], page2["data"][0]["id"]} == {c["id"] for c in listed["data"]}
    ida = api.get("/api/v1/conversations", query_string={"phone": "+1 555 010 0044"}).json["data"]
    assert len(ida) == 1 and ida[0]["contact_name"] == "Ida"
    assert api.get(f"/api/v1/conversations?prospect_id={ida[0]['prospect_id']}").json["data"][0]["id"] == ida[0]["id"]
    detail = api.get(f"/api/v1/conversations/{ida[0]['id']}").json
    assert [(m["direction"], m["status"]) for m in detail["messages"]] == [("inbound", "received"), ("outbound", "delivered")]
    assert detail["messages"][0]["text"] == "First" and "delivered" in detail["messages"][1]["statuses"]
    assert detail["messages_truncated"] is False
    assert api.get(f"/api/v1/conversations/{ida[0]['id']}?limit=1").json["messages_truncated"] is True
    refused = api.get("/api/v1/conversations/999999")
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"
    refused = api.get("/api/v1/conversations?status=open")
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "status"
    refused = api.get("/api/v1/conversations?prospect_id=x")
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "prospect_id"
    refused = client.get("/api/v1/conversations")
    assert refused.status_code == 401
    assert refused.json["error"] == "unauthorized"
