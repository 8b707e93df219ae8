"""Sending rules: once per intent (double submits, idempotency keys, replays), the 24-hour
window, auto-reply guards, and a status webhook that beats the send call."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

from sqlalchemy import select

from tests.conversations.helpers import (
    KAPSO_PATH,
    conversation,
    kapso_answers,
    kapso_status,
    meta_ok,
    outbound,
    process,
    receive_kapso,
    send_lane,
    sends,
    use_kapso,
)
from tests.whatsapp_signing import post_kapso
from tests.work.helpers import drain
from vani.conversations.autoreply import matches
from vani.models import Message, WebhookEvent
from vani.models.replies import AutoReplyRule, RuleTrigger


def kapso_conversation(app, client, db, httpserver, text="hola", at=None):
    use_kapso(app, httpserver)
    receive_kapso(client, text, "wamid.in1", at=at)
    process()
    return conversation(db)


def nonce_of(html: str, kind: str = "text") -> str:
    form = html.split(f'name="kind" value="{kind}"')[0]
    return re.findall(r'name="nonce" value="([^"]+)"', form)[-1]


def add_rule(db, **values) -> AutoReplyRule:
    rule = AutoReplyRule(**{"name": "Ayuda", "trigger": "keyword", "match": "ayud",
                            "reply_text": "¿En qué puedo ayudarte?", **values})
    db.session.add(rule)
    db.session.commit()
    return rule


def test_a_double_submitted_reply_sends_once(app, client, db, httpserver, login):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.d1"))
    staff = login("staff")
    page = staff.get(f"/dashboard/messages/{conv.id}").get_data(as_text=True)
    form = {"csrf_token": staff.csrf, "nonce": nonce_of(page), "kind": "text", "text": "On my way"}
    first = staff.post(f"/dashboard/messages/{conv.id}/reply", data=form)
    second = staff.post(f"/dashboard/messages/{conv.id}/reply", data=form)
    assert first.status_code == second.status_code == 303
    assert "already sent" in staff.get(f"/dashboard/messages/{conv.id}").get_data(as_text=True)
    send_lane()
    replies = [s for s in sends(db) if s.kind != "read"]
    assert len(replies) == 1 and len([r for r, _ in httpserver.log if r.json.get("type") == "text"]) == 1
    (msg,) = outbound(db)
    assert (msg.text, msg.origin, msg.sent_by_id, msg.status) == ("On my way", "dashboard", staff.user.id, "sent")


def test_idempotency_keys(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    url = f"/api/v1/conversations/{conv.id}/messages"
    first = api.post(url, json={"text": "Hello"}, headers={"Idempotency-Key": "abc"})
    again = api.post(url, json={"text": "Hello"}, headers={"Idempotency-Key": "abc"})
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = api.post(url, json={"text": "Something else"}, headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409 and other.json["error"] == "idempotency_key_reused"
    # Keys belong to their token: another integration's "abc" is its own message.
    from vani.accounts.tokens import create_token

    token = create_token("crm", ["messages"])[1]
    theirs = client.post(url, json={"text": "Hello"}, headers={"Idempotency-Key": "abc",
                                                               "Authorization": f"Bearer {token}"})
    assert theirs.status_code == 202 and theirs.json["id"] != first.json["id"]
    assert len(outbound(db)) == 2
    bad = api.post(url, json={"text": "Hi"}, headers={"Idempotency-Key": "x" * 201})
    assert bad.status_code == 400 and bad.json["field"] == "Idempotency-Key"


def test_bad_send_requests_are_answered_clearly(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    url = f"/api/v1/conversations/{conv.id}/messages"
    for body, field in (({}, "body"), ({"text": ""}, "text"), ({"text": "x" * 4097}, "text"),
                        ({"text": "a", "template": {"name": "t"}}, "body"), ({"template": "t"}, "template"),
                        ({"template": {"name": "t", "variables": [{"a": 1}]}}, "template.variables"),
                        ({"txt": "a"}, "txt")):
        r = api.post(url, json=body)
        assert r.status_code == 400 and r.json["field"] == field, (body, r.json)
    refused = api.post("/api/v1/conversations/999999/messages", json={"text": "a"})
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"
    from vani.accounts.tokens import create_token

    reader = create_token("reader", ["read"])[1]
    r = client.post(url, json={"text": "a"}, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and r.json == {"error": "insufficient_scope", "scope": "messages",
                                               "detail": "this token lacks the messages scope"}
    assert outbound(db) == []


def test_outside_the_window_free_text_is_refused_and_a_template_goes_out(app, client, api, db, httpserver, login):
    conv = kapso_conversation(app, client, db, httpserver, at=time.time() - 25 * 3600)
    url = f"/api/v1/conversations/{conv.id}/messages"
    r = api.post(url, json={"text": "Still there?"})
    assert r.status_code == 409 and r.json["error"] == "outside_service_window"
    staff = login("staff")
    page = staff.get(f"/dashboard/messages/{conv.id}").get_data(as_text=True)
    assert "More than 24 hours have passed" in page and 'name="text"' not in page and "<details open>" in page
    r = staff.post(f"/dashboard/messages/{conv.id}/reply", data={
        "csrf_token": staff.csrf, "nonce": "n" * 16, "kind": "text", "text": "Still there?"}, follow_redirects=True)
    assert "only within 24 hours" in r.get_data(as_text=True)
    assert outbound(db) == [] and len(httpserver.log) == 0  # refused before anyone was called
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.tpl"))
    r = api.post(url, json={"template": {"name": "reengage", "language": "en", "variables": []}})
    assert r.status_code == 202
    send_lane()
    # The staff member's visit marked the message read; the template went out.
    assert sorted(r.json.get("type") or r.json["status"] for r, _ in httpserver.log) == ["read", "template"]
    assert outbound(db)[0].status == "sent"


def test_an_auto_reply_fires_once_even_when_the_inbound_event_is_replayed(app, client, db, httpserver, login):
    from vani.processing.events import reprocess

    rule = add_rule(db)
    use_kapso(app, httpserver)
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.auto1"))
    body = json.dumps({"message": {"id": "wamid.q1", "timestamp": str(int(time.time())), "type": "text",
                                   "text": {"body": "Necesito AYÚDAME por favor"}, "from": "15551234567",
                                   "kapso": {"direction": "inbound", "status": "received"}},
                       "conversation": {"id": "conv_1", "phone_number": "+15551234567",
                                        "phone_number_id": "647015955153740"},
                       "phone_number_id": "647015955153740"}).encode()
    assert post_kapso(client, body, "whatsapp.message.received").status_code == 200
    process()
    event_id = db.session.execute(select(WebhookEvent.id)).scalar_one()
    for _ in range(2):
        assert reprocess(event_id) == "processed"
    r = post_kapso(client, body, "whatsapp.message.received")  # Kapso delivers it again
    assert r.json["status"] == "duplicate"
    process()
    sent = [r for r, _ in httpserver.log if r.json.get("type") == "text"]
    assert len(sent) == 1 and sent[0].json["text"]["body"] == "¿En qué puedo ayudarte?"
    (auto,) = outbound(db)
    assert (auto.origin, auto.autoreply_rule_id, auto.status) == ("auto", rule.id, "sent")
    staff = login("viewer")
    page = staff.get(f"/dashboard/messages/{auto.conversation_id}").get_data(as_text=True)
    assert "Auto-reply · rule “Ayuda”" in page


def test_old_messages_get_no_auto_reply(app, client, db, httpserver):
    add_rule(db, trigger="first_message", match=None)
    kapso_conversation(app, client, db, httpserver, text="ayuda", at=time.time() - 11 * 60)
    assert outbound(db) == [] and sends(db) == []


def test_one_auto_reply_per_conversation_per_cooldown(app, client, db, httpserver):
    add_rule(db)
    kapso_answers(httpserver)
    kapso_conversation(app, client, db, httpserver, text="ayuda")
    receive_kapso(client, "ayuda otra vez", "wamid.in2")
    process()
    assert len(outbound(db)) == 1
    app.config["VANI_AUTOREPLY_COOLDOWN"] = 0  # no cooldown: each message may be answered
    receive_kapso(client, "¿ayuda?", "wamid.in3")
    process()
    assert len(outbound(db)) == 2


def test_the_first_matching_active_rule_wins(app, client, db, httpserver):
    add_rule(db, name="Off", match="hola", reply_text="off", active=False, position=1)
    add_rule(db, name="Welcome", trigger="first_message", match=None, reply_text="Welcome!", position=2)
    add_rule(db, name="Hola", match="hola", reply_text="Hola!", position=3)
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.w1"))
    kapso_conversation(app, client, db, httpserver, text="hola")
    assert [m.text for m in outbound(db)] == ["Welcome!"]


def test_rule_triggers():
    def local(weekday_day: int, hour: int) -> datetime:
        return datetime(2026, 11, weekday_day, hour, 30, tzinfo=timezone.utc)  # 30 Nov 2026 is a Monday

    keyword = AutoReplyRule(trigger=RuleTrigger.KEYWORD, match="ayud, precio")
    assert matches(keyword, "Ayuda", False, local(30, 10)) and matches(keyword, "¿me ayúdame?", False, local(30, 10))
    assert matches(keyword, "PRÉCIOS", False, local(30, 10)) and not matches(keyword, "hola", False, local(30, 10))
    pattern = AutoReplyRule(trigger=RuleTrigger.PATTERN, match=r"^(hola|buenas)\b")
    assert matches(pattern, "Buenas tardes", False, local(30, 10)) and not matches(pattern, "y hola", False, local(30, 10))
    first = AutoReplyRule(trigger=RuleTrigger.FIRST_MESSAGE)
    assert matches(first, "x", True, local(30, 10)) and not matches(first, "x", False, local(30, 10))
    hours = AutoReplyRule(trigger=RuleTrigger.OUTSIDE_HOURS, hours={"mon": ["09:00-17:00"]})
    assert not matches(hours, "x", False, local(30, 10))  # Monday 10:30: open
    assert matches(hours, "x", False, local(30, 18)) and matches(hours, "x", False, local(29, 10))  # evening, Sunday


def test_outside_hours_use_the_organisations_timezone(app, client, db, httpserver):
    from vani import orgs

    org = orgs.in_force()
    org.timezone = "Asia/Tokyo"
    now_tokyo = datetime.now(timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[now_tokyo.weekday()]
    add_rule(db, name="Closed", trigger="outside_hours", match=None, reply_text="We are closed",
             hours={day: ["00:00-24:00"]})  # open all of today in Tokyo: no reply
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.h1"))
    kapso_conversation(app, client, db, httpserver, text="hola")
    assert outbound(db) == []


def test_a_status_webhook_that_beats_the_send_call_still_attaches(app, client, api, db, httpserver):
    from vani.processing.events import EVENTS

    conv = kapso_conversation(app, client, db, httpserver)
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hi there"})
    assert r.status_code == 202
    # Kapso reports the message delivered (and sent) before its send call has returned to Vani.
    for status in ("delivered", "sent"):
        post_kapso(client, json.dumps(kapso_status("wamid.early", status)).encode(), f"whatsapp.message.{status}")
    drain(EVENTS)
    assert len(outbound(db)) == 2  # for now: the reply, and a row stored under the provider's id
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.early"))
    send_lane()
    (msg,) = outbound(db)
    assert (msg.id, msg.provider_message_id, msg.status) == (r.json["id"], "wamid.early", "delivered")
    assert msg.sent_at and msg.delivered_at and msg.origin == "api"
    # Later statuses attach to it too; a late "delivered" never replaces "read".
    for status in ("read", "delivered"):
        post_kapso(client, json.dumps(kapso_status("wamid.early", status, at=time.time() + 5)).encode(),
                   f"whatsapp.message.{status}")
    process()
    (msg,) = outbound(db)
    assert msg.status == "read" and db.session.execute(
        select(Message).where(Message.provider_message_id == "wamid.early")).scalar_one().id == r.json["id"]


def test_concurrent_requests_with_one_key_queue_one_message(app, client, api_token, db, httpserver, live_server):
    import threading

    import requests

    conv = kapso_conversation(app, client, db, httpserver)
    url = f"{live_server}/api/v1/conversations/{conv.id}/messages"
    answers, barrier = [], threading.Barrier(8)

    def post():
        barrier.wait()
        r = requests.post(url, json={"text": "Once"}, timeout=30,
                          headers={"Authorization": f"Bearer {api_token}", "Idempotency-Key": "same"})
        answers.append((r.status_code, r.json().get("id")))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ok = [a for a in answers if a[0] == 202]
    assert len({message_id for _, message_id in ok}) == 1, answers
    # SQLite may turn a request away while another holds the write lock (503, nothing queued); PostgreSQL waits.
    assert all(status in (202, 503) for status, _ in answers) and len(ok) >= 1, answers
    if db.engine.dialect.name == "postgresql":
        assert len(ok) == 8, answers
    assert len(outbound(db)) == 1


def test_a_runaway_pattern_cannot_stall_a_worker():
    rule = AutoReplyRule(id=7, trigger=RuleTrigger.PATTERN, match=r"(a+)+$")
    # Backtracking on this takes minutes with Python's re; the pattern's time limit stops it.
    assert matches(rule, "a" * 40 + "!", False, datetime.now(timezone.utc)) is False
    assert matches(rule, "aaa", False, datetime.now(timezone.utc)) is True
    escaped = AutoReplyRule(trigger=RuleTrigger.PATTERN, match=r"^\W*precio\b")  # \W keeps its case
    assert matches(escaped, "¡¡Precio!!", False, datetime.now(timezone.utc))


def test_a_retry_by_hand_respects_the_window(app, client, api, db, httpserver):
    from datetime import timedelta

    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_json(
        {"error": {"message": "Temporarily blocked", "code": 368}}, status=400)
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hello"})
    send_lane()
    for inbound in db.session.execute(select(Message).where(Message.direction == "inbound")).scalars():
        inbound.message_at = inbound.message_at - timedelta(days=2)  # the customer wrote two days ago
    db.session.commit()
    again = api.post(f"/api/v1/conversations/{conv.id}/messages/{r.json['id']}/retry")
    assert again.status_code == 409 and again.json["error"] == "outside_service_window"
    assert len(httpserver.log) == 1


def test_an_accepted_send_with_an_odd_answer_is_never_sent_again(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_json({"messages": {"id": "wamid.odd"}})
    api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hello"})
    from datetime import timedelta

    from vani.models.base import utcnow

    send_lane()
    send_lane(utcnow() + timedelta(days=1))
    assert len(httpserver.log) == 1
    assert (sends(db)[0].status, sends(db)[0].error_code) == ("dead", "no_message_id")


def test_odd_input_is_answered_not_crashed_on(app, client, api, db, httpserver, login):
    conv = kapso_conversation(app, client, db, httpserver)
    refused = api.get("/api/v1/conversations?assignee=²")
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "assignee"
    r = api.patch(f"/api/v1/conversations/{conv.id}", json={"assignee_id": 2 ** 70})
    assert r.status_code == 400 and r.json["field"] == "assignee_id"
    staff = login("staff")
    r = staff.post(f"/dashboard/messages/{conv.id}/assign", data={"csrf_token": staff.csrf, "assignee": "²"})
    assert r.status_code == 303
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "bad \ud800 and \x00 nul"})
    assert r.status_code == 202 and r.json["message"]["text"] == "bad \ufffd and  nul"
    r = api.post("/api/v1/autoreply-rules", json={"name": "x\ud800", "trigger": "keyword", "match": "a\x00b",
                                                  "reply_text": "hi\ud800"})
    assert r.status_code == 201 and r.json["match"] == "ab"
