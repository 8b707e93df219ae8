"""The team's side: assignment and its filters, who is alerted (unassigned messages, handoffs),
failed replies and their Retry button, live updates, and auto-reply rules (page and API)."""
from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from tests.conversations.helpers import (
    KAPSO_PATH,
    conversation,
    kapso_answers,
    outbound,
    process,
    receive_kapso,
    send_lane,
    use_kapso,
)
from tests.whatsapp_signing import post_kapso
from vani.models import AutoReplyRule, Message, Notification, OutboundEvent


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def kapso_conversation(app, client, db, httpserver, ref="conv_1", wamid="wamid.in1", phone="+15551234567"):
    use_kapso(app, httpserver)
    receive_kapso(client, "hola", wamid, conv=ref, phone=phone)
    process()
    return conversation(db, ref)


def test_assignment_filters_and_alerts(app, client, api, db, httpserver, login):
    mine = kapso_conversation(app, client, db, httpserver)
    other = kapso_conversation(app, client, db, httpserver, ref="conv_2", wamid="wamid.x1", phone="+15550100002")
    assert count(db, Notification, Notification.kind == "message.received") == 2  # both unassigned
    staff = login("staff")
    r = staff.post(f"/dashboard/messages/{mine.id}/assign", data={"csrf_token": staff.csrf, "assignee": "me"})
    assert r.status_code == 303

    def listed(assigned: str) -> set[int]:
        html = staff.get(f"/dashboard/messages?assigned={assigned}").get_data(as_text=True)
        return {c for c in (mine.id, other.id) if f'data-id="{c}"' in html}

    assert (listed("mine"), listed("unassigned"), listed("all")) == ({mine.id}, {other.id}, {mine.id, other.id})
    # A new message in an assigned conversation is its assignee's: no team alert. Unassigned: alert.
    receive_kapso(client, "¿sigues ahí?", "wamid.in2")
    receive_kapso(client, "hola?", "wamid.x2", conv="conv_2", phone="+15550100002")
    process()
    alerted = db.session.execute(select(Notification.data).where(Notification.kind == "message.received")).scalars()
    alerted_for = db.session.execute(select(Message.provider_message_id).where(
        Message.id.in_([d["message_id"] for d in alerted]))).scalars()
    assert sorted(alerted_for) == ["wamid.in1", "wamid.x1", "wamid.x2"]  # not wamid.in2
    # The API sees and changes the same.
    r = api.get("/api/v1/conversations?assignee=unassigned")
    assert [c["id"] for c in r.json["data"]] == [other.id]
    r = api.get(f"/api/v1/conversations?assignee={staff.user.id}")
    assert [c["id"] for c in r.json["data"]] == [mine.id]
    assert api.patch(f"/api/v1/conversations/{other.id}", json={"assignee_id": staff.user.id}).json["assignee_id"] \
        == staff.user.id
    r = api.patch(f"/api/v1/conversations/{other.id}", json={"assignee_id": 999999})
    assert r.status_code == 400 and r.json["field"] == "assignee_id"
    assert api.patch(f"/api/v1/conversations/{other.id}", json={"assignee_id": None}).json["assignee_id"] is None
    refused = api.patch(f"/api/v1/conversations/{other.id}", json={"owner": 1})
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "assignee_id"


def test_a_handoff_alerts_the_team_once(app, client, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    body = json.dumps({"event": "workflow.execution.handoff", "occurred_at": "2026-11-29T12:00:00Z",
                       "project_id": "p1", "workflow_id": "wf1", "workflow_execution_id": "exec-1",
                       "status": "handoff", "channel": "whatsapp", "whatsapp_conversation_id": "conv_1",
                       "handoff": {"reason": "User requested human assistance", "source": "agent_tool"}}).encode()
    for _ in range(2):
        assert post_kapso(client, body, "workflow.execution.handoff").status_code == 200
    process()
    (n,) = db.session.execute(select(Notification).where(Notification.kind == "conversation.handoff")).scalars()
    assert n.data["conversation_id"] == conv.id and n.data["reason"] == "User requested human assistance"
    (event,) = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "conversation.handoff")).scalars()
    assert event.data["conversation"]["id"] == conv.id and event.data["handoff"]["source"] == "agent_tool"
    from vani.notifications.render import render

    assert render(n).summary == "The WhatsApp bot handed +15551234567 to a person: User requested human assistance"


def test_a_failed_reply_is_red_with_a_retry_button(app, client, api, db, httpserver, login):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_json(
        {"error": {"message": "Recipient phone number not in allowed list", "code": 131030}}, status=400)
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hello"})
    send_lane()
    staff = login("staff")
    page = staff.get(f"/dashboard/messages/{conv.id}").get_data(as_text=True)
    assert "tl-failed" in page and "Not sent: 131030 Recipient phone number not in allowed list" in page
    assert f'aria-label="Retry message {r.json["id"]}"' in page
    viewer = login("viewer").get(f"/dashboard/messages/{conv.id}").get_data(as_text=True)
    assert "Retry message" not in viewer and 'name="text"' not in viewer  # no reply box, no retry for viewers
    seen = kapso_answers(httpserver)
    r2 = staff.post(f"/dashboard/messages/{conv.id}/messages/{r.json['id']}/retry", data={"csrf_token": staff.csrf})
    assert r2.status_code == 303
    send_lane()
    assert [b["text"]["body"] for b in seen if b.get("type") == "text"] == ["Hello"]
    assert outbound(db)[0].status == "sent"


def test_sending_publishes_the_conversation_live(app, client, api, db, httpserver, redis_client):
    conv = kapso_conversation(app, client, db, httpserver)
    kapso_answers(httpserver)
    pubsub = redis_client.pubsub()  # what the dashboard's stream relays
    pubsub.subscribe(f"vani:live:{conv.org_id}")
    api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hello"})
    send_lane()
    deadline, seen = time.time() + 3, []
    while time.time() < deadline and seen.count(f"conversation:{conv.id}") < 2:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            seen.append(message["data"].decode())
    pubsub.close()
    assert seen.count(f"conversation:{conv.id}") >= 2  # queued, then sent


def test_rules_page(app, login, db):
    admin = login("admin")
    form = {"csrf_token": admin.csrf, "name": "Help", "trigger": "keyword", "match": "ayuda, help",
            "reply_text": "¿En qué puedo ayudarte?", "active": "on"}
    assert admin.post("/dashboard/autoreplies", data=form).status_code == 303
    hours = {"csrf_token": admin.csrf, "name": "Night", "trigger": "outside_hours", "days": ["mon", "tue"],
             "opens": "09:00", "closes": "18:00", "reply_text": "We open at 9", "active": "on"}
    assert admin.post("/dashboard/autoreplies", data=hours).status_code == 303
    bad = admin.post("/dashboard/autoreplies", data={**form, "trigger": "pattern", "match": "(unclosed"},
                     follow_redirects=True)
    assert "not a regular expression" in bad.get_data(as_text=True)
    rules = db.session.execute(select(AutoReplyRule).order_by(AutoReplyRule.position)).scalars().all()
    assert [(r.name, r.trigger, r.hours) for r in rules] == [
        ("Help", "keyword", {}), ("Night", "outside_hours", {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"]})]
    night = rules[1].id
    admin.post(f"/dashboard/autoreplies/{night}/change", data={"csrf_token": admin.csrf, "action": "up"})
    admin.post(f"/dashboard/autoreplies/{night}/change", data={"csrf_token": admin.csrf, "action": "toggle"})
    db.session.expire_all()
    rules = db.session.execute(select(AutoReplyRule).order_by(AutoReplyRule.position)).scalars().all()
    assert [(r.name, r.active) for r in rules] == [("Night", False), ("Help", True)]
    page = login("viewer").get("/dashboard/autoreplies").get_data(as_text=True)
    assert "text contains ayuda, help" in page and "Add a rule" not in page
    admin.post(f"/dashboard/autoreplies/{night}/change", data={"csrf_token": admin.csrf, "action": "delete"})
    assert count(db, AutoReplyRule) == 1


def test_rules_api(api, client, db):
    r = api.post("/api/v1/autoreply-rules", json={"name": "Ayuda", "trigger": "keyword", "match": "ayud",
                                                  "reply_text": "¿En qué puedo ayudarte?"})
    assert r.status_code == 201 and r.json["active"] is True
    rule_id = r.json["id"]
    r = api.post("/api/v1/autoreply-rules", json={"name": "Closed", "trigger": "outside_hours",
                                                  "hours": {"mon": ["09:00-17:00"], "sat": "10:00-12:00"},
                                                  "template": {"name": "closed", "language": "es"}})
    assert r.status_code == 201 and r.json["hours"]["sat"] == ["10:00-12:00"]
    assert r.json["template"] == {"name": "closed", "language": "es", "variables": []}
    assert [x["name"] for x in api.get("/api/v1/autoreply-rules").json["data"]] == ["Ayuda", "Closed"]
    r = api.patch(f"/api/v1/autoreply-rules/{rule_id}", json={"active": False, "position": 99})
    assert r.status_code == 200 and r.json["active"] is False
    assert [x["name"] for x in api.get("/api/v1/autoreply-rules").json["data"]] == ["Closed", "Ayuda"]
    for body, field in (({"name": "x", "trigger": "sometimes", "reply_text": "a"}, "trigger"),
                        ({"name": "x", "trigger": "pattern", "match": "(", "reply_text": "a"}, "match"),
                        ({"name": "x", "trigger": "keyword", "match": " , ", "reply_text": "a"}, "match"),
                        ({"name": "x", "trigger": "outside_hours", "hours": {"mon": ["17:00-09:00"]},
                          "reply_text": "a"}, "hours"),
                        ({"name": "x", "trigger": "outside_hours", "hours": {"funday": []}, "reply_text": "a"},
                         "hours"),
                        ({"name": "x", "trigger": "first_message", "reply_text": "a", "template": {"name": "t"}},
                         "reply_text"),
                        ({"name": "", "trigger": "first_message", "reply_text": "a"}, "name"),
                        ({"name": "x", "trigger": "first_message", "reply_text": "a", "colour": 1}, "colour")):
        r = api.post("/api/v1/autoreply-rules", json=body)
        assert r.status_code == 400 and r.json["field"] == field, (body, r.json)
    assert api.delete(f"/api/v1/autoreply-rules/{rule_id}").status_code == 204
    refused = api.get(f"/api/v1/autoreply-rules/{rule_id}")
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"
    from vani.accounts.tokens import create_token

    reader = create_token("reader", ["read", "messages"])[1]
    r = client.post("/api/v1/autoreply-rules", json={"name": "x", "trigger": "first_message", "reply_text": "a"},
                    headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and r.json["scope"] == "admin"
