"""Replies through fake Kapso and Twilio APIs on loopback: the exact requests, and what each
answer leads to (sent, retried after 429 or 5xx or a timeout, refused for good on other 4xx)."""
from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

from sqlalchemy import func, select
from werkzeug.wrappers import Response

from tests.conversations.helpers import (
    KAPSO_KEY,
    KAPSO_PATH,
    NUMBER_ID,
    PHONE,
    TWILIO_FROM,
    TWILIO_PATH,
    TWILIO_SID,
    attempts,
    conversation,
    meta_ok,
    outbound,
    process,
    receive_kapso,
    receive_twilio,
    send_lane,
    sends,
    twilio_ok,
    twilio_status,
    use_kapso,
    use_twilio,
)
from tests.whatsapp_signing import post_twilio
from vani.models import Notification, OutboundEvent
from vani.models.base import as_utc, utcnow

TEXT_BODY = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE.lstrip("+"),
             "type": "text", "text": {"preview_url": False, "body": "Hi there"}}


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def kapso_conversation(app, client, db, httpserver):
    use_kapso(app, httpserver)
    receive_kapso(client, "hola", "wamid.in1")
    process()
    return conversation(db)


def reply(api, conv, body=None, key="k-1"):
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json=body or {"text": "Hi there"},
                 headers={"Idempotency-Key": key})
    assert r.status_code == 202, r.json
    assert r.json["status"] == "queued"
    return r.json["id"]


def meta_error(code: int, message: str) -> str:
    return json.dumps({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ab1"}})


# -- Kapso ------------------------------------------------------------------------------------
def test_kapso_text_reply_is_the_meta_call(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST", headers={"X-API-Key": KAPSO_KEY},
                                      json=TEXT_BODY).respond_with_json(meta_ok("wamid.out1"))
    message_id = reply(api, conv)
    assert send_lane() == 1
    httpserver.check_assertions()
    (msg,) = outbound(db)
    assert (msg.id, msg.status, msg.provider_message_id, msg.origin) == (message_id, "sent", "wamid.out1", "api")
    (send,) = sends(db)
    assert (send.status, send.attempts) == ("sent", 1)
    assert [(a.outcome, a.http_status) for a in attempts(db, send.id)] == [("sent", 200)]
    event = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "message.sent")).scalar_one()
    assert event.data["message"]["provider_message_id"] == "wamid.out1"
    assert send_lane() == 0 and len(httpserver.log) == 1  # nothing left: sent once


def test_kapso_template(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    expected = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE.lstrip("+"),
                "type": "template", "template": {"name": "follow_up", "language": {"code": "es"}, "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "3pm"}]}]}}
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST", json=expected).respond_with_json(meta_ok("wamid.t1"))
    reply(api, conv, {"template": {"name": "follow_up", "language": "es", "variables": ["Ana", "3pm"]}})
    send_lane()
    httpserver.check_assertions()
    (msg,) = outbound(db)
    assert (msg.type, msg.status, msg.text) == ("template", "sent", "[template follow_up] Ana, 3pm")


def test_kapso_template_with_named_parameters(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    expected = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE.lstrip("+"),
                "type": "template", "template": {"name": "order_update", "language": {"code": "en"}, "components": [
                    {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"},
                                                    {"type": "text", "parameter_name": "order", "text": "#42"}]}]}}
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST", json=expected).respond_with_json(meta_ok("wamid.t2"))
    reply(api, conv, {"template": {"name": "order_update", "language": "en",
                                   "variables": {"first_name": "Ana", "order": "#42"}}})
    send_lane()
    httpserver.check_assertions()
    assert [m.status for m in outbound(db)] == ["sent"]


def test_429_waits_for_retry_after_then_sends(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_ordered_request(KAPSO_PATH, method="POST").respond_with_data(
        meta_error(130429, "Rate limit hit"), status=429, headers={"Retry-After": "120"},
        content_type="application/json")
    httpserver.expect_ordered_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.r1"))
    reply(api, conv)
    now = utcnow()
    send_lane(now)
    (send,) = sends(db)
    assert send.status == "failed" and send.error_code == "130429"
    wait = (as_utc(send.next_attempt_at) - now).total_seconds()
    assert 119 <= wait <= 121  # Retry-After, not the 10 s schedule
    assert send_lane(now + timedelta(seconds=60)) == 0  # not before
    send_lane(now + timedelta(seconds=121))
    httpserver.check_assertions()
    assert [(a.outcome, a.http_status, a.error_code) for a in attempts(db, send.id)] == [
        ("retry", 429, "130429"), ("sent", 200, None)]
    assert outbound(db)[0].status == "sent"


def test_500_then_success_sends_once(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_ordered_request(KAPSO_PATH, method="POST").respond_with_data("upstream down", status=500)
    httpserver.expect_ordered_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.500"))
    reply(api, conv)
    now = utcnow()
    send_lane(now)
    assert sends(db)[0].status == "failed" and "upstream down" in sends(db)[0].last_error
    send_lane(now + timedelta(seconds=11))
    send_lane(now + timedelta(hours=2))
    httpserver.check_assertions()
    assert len(httpserver.log) == 2
    assert outbound(db)[0].provider_message_id == "wamid.500"
    assert count(db, OutboundEvent, OutboundEvent.type == "message.sent") == 1


def test_400_is_not_retried_and_fails_loudly(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_data(
        meta_error(131047, "Re-engagement message"), status=400, content_type="application/json")
    message_id = reply(api, conv)
    now = utcnow()
    send_lane(now)
    assert send_lane(now + timedelta(days=1)) == 0
    assert len(httpserver.log) == 1
    (send,) = sends(db)
    assert (send.status, send.error_code, send.attempts) == ("dead", "131047", 1)
    (msg,) = outbound(db)
    assert (msg.status, msg.error_code, msg.error_detail) == ("failed", "131047", "Re-engagement message")
    failed = db.session.execute(select(Notification).where(Notification.kind == "message.failed")).scalar_one()
    assert failed.data["message_id"] == message_id and failed.data["error_code"] == "131047"
    event = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "message.status_updated")
                               .order_by(OutboundEvent.id.desc())).scalars().first()
    assert (event.data["message"]["status"], event.data["previous_status"]) == ("failed", "queued")
    # Retry by hand: its tries start over, and this time it goes out.
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_json(meta_ok("wamid.again"))
    r = api.post(f"/api/v1/conversations/{conv.id}/messages/{message_id}/retry")
    assert r.status_code == 202 and r.json["status"] == "queued"
    refused = api.post(f"/api/v1/conversations/{conv.id}/messages/{message_id}/retry")
    assert refused.status_code == 409
    assert refused.json["error"] == "conflict"
    send_lane()
    assert (outbound(db)[0].status, outbound(db)[0].provider_message_id) == ("sent", "wamid.again")


def test_a_reply_that_fails_again_after_a_retry_is_reported_again(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_data(
        meta_error(131026, "Message undeliverable"), status=400, content_type="application/json")
    message_id = reply(api, conv)
    send_lane()
    assert api.post(f"/api/v1/conversations/{conv.id}/messages/{message_id}/retry").status_code == 202
    send_lane()
    assert count(db, Notification, Notification.kind == "message.failed") == 2
    failures = [e for e in db.session.execute(select(OutboundEvent).where(
        OutboundEvent.type == "message.status_updated")).scalars() if e.data["message"]["status"] == "failed"]
    assert len(failures) == 2


def test_a_timeout_is_retried(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    app.config["VANI_SEND_TIMEOUT_SECONDS"] = 0.2

    def slow(request):
        time.sleep(1.0)
        return Response(json.dumps(meta_ok("wamid.late")), content_type="application/json")

    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST").respond_with_handler(slow)
    reply(api, conv)
    started = time.monotonic()
    send_lane()
    assert time.monotonic() - started < 0.9  # cut at the deadline, not when the server answered
    (send,) = sends(db)
    assert send.status == "failed" and send.error_code == "timeout" and send.next_attempt_at is not None
    assert attempts(db, send.id)[0].outcome == "retry"
    assert outbound(db)[0].status == "queued"


def test_missing_api_key_fails_without_calling(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, db, httpserver)
    app.config["KAPSO_API_KEY"] = None
    reply(api, conv)
    send_lane()
    assert len(httpserver.log) == 0
    assert (sends(db)[0].status, sends(db)[0].error_code) == ("dead", "not_configured")


def test_kapso_api_token_is_an_alias(monkeypatch):
    from config import ProductionConfig

    monkeypatch.delenv("KAPSO_API_KEY", raising=False)
    monkeypatch.setenv("KAPSO_API_TOKEN", "from-the-alias")
    monkeypatch.setenv("KAPSO_API_BASE_URL", "https://kapso.example.com")
    cfg = ProductionConfig()
    assert cfg.KAPSO_API_KEY == "from-the-alias" and cfg.KAPSO_API_BASE_URL == "https://kapso.example.com"


# -- Twilio -----------------------------------------------------------------------------------
def twilio_conversation(app, client, db, httpserver):
    use_twilio(app, httpserver)
    receive_twilio(client, "SMin1", "Hola")
    process()
    return conversation(db, f"whatsapp:{TWILIO_FROM}:{PHONE}")


def form_of(request) -> dict:
    return request.form.to_dict()


def test_twilio_reply_through_the_library(app, client, api, db, httpserver):
    conv = twilio_conversation(app, client, db, httpserver)
    auth = "Basic " + base64.b64encode(f"{TWILIO_SID}:twilio-test-auth-token".encode()).decode()
    seen = []

    def answer(request):
        seen.append(request.form.to_dict())
        return Response(json.dumps(twilio_ok("SMout1", "Hi there")), status=201, content_type="application/json")

    httpserver.expect_oneshot_request(TWILIO_PATH, method="POST", headers={"Authorization": auth}) \
        .respond_with_handler(answer)
    reply(api, conv)
    send_lane()
    httpserver.check_assertions()
    from vani import orgs

    key = orgs.get(conv.org_id).key
    assert seen == [{"To": f"whatsapp:{PHONE}", "From": f"whatsapp:{TWILIO_FROM}", "Body": "Hi there",
                                "StatusCallback": f"https://vani.example.com/api/webhooks/twilio/{key}"}]
    (msg,) = outbound(db)
    assert (msg.status, msg.provider_message_id) == ("sent", "SMout1")
    # Its status callbacks attach to it; a late "delivered" never replaces "read".
    for status in ("read", "delivered"):
        assert post_twilio(client, twilio_status("SMout1", status)).status_code == 200
    process()
    (msg,) = outbound(db)
    assert msg.status == "read" and msg.delivered_at and msg.read_at


def test_twilio_template_uses_content_sid(app, client, api, db, httpserver):
    conv = twilio_conversation(app, client, db, httpserver)
    httpserver.expect_oneshot_request(TWILIO_PATH, method="POST").respond_with_json(twilio_ok("SMt1"), status=201)
    reply(api, conv, {"template": {"name": "HX" + "a" * 32, "language": "en", "variables": {"1": "Ana", "2": "3pm"}}})
    send_lane()
    form = form_of(httpserver.log[0][0])
    assert form["ContentSid"] == "HX" + "a" * 32 and json.loads(form["ContentVariables"]) == {"1": "Ana", "2": "3pm"}
    assert "Body" not in form


def test_twilio_429_and_400(app, client, api, db, httpserver):
    conv = twilio_conversation(app, client, db, httpserver)
    httpserver.expect_ordered_request(TWILIO_PATH, method="POST").respond_with_json(
        {"code": 20429, "message": "Too Many Requests", "status": 429}, status=429, headers={"Retry-After": "30"})
    httpserver.expect_ordered_request(TWILIO_PATH, method="POST").respond_with_json(
        {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}, status=400)
    reply(api, conv)
    now = utcnow()
    send_lane(now)
    (send,) = sends(db)
    assert send.status == "failed" and 29 <= (as_utc(send.next_attempt_at) - now).total_seconds() <= 31
    send_lane(now + timedelta(seconds=31))
    send_lane(now + timedelta(days=1))
    httpserver.check_assertions()
    (send,) = sends(db)
    assert (send.status, send.error_code) == ("dead", "21211")
    assert [(a.http_status, a.error_code) for a in attempts(db, send.id)] == [(429, "20429"), (400, "21211")]
    assert "not a valid phone number" in outbound(db)[0].error_detail


def test_mark_as_read_when_staff_open_the_conversation(app, client, db, httpserver, login):
    conv = kapso_conversation(app, client, db, httpserver)
    viewer = login("viewer")
    assert viewer.get(f"/dashboard/messages/{conv.id}").status_code == 200
    send_lane()
    assert len(httpserver.log) == 0  # a viewer reading does not mark it read
    httpserver.expect_oneshot_request(f"/meta/whatsapp/v24.0/{NUMBER_ID}/messages", method="POST",
                                      headers={"X-API-Key": KAPSO_KEY},
                                      json={"messaging_product": "whatsapp", "status": "read",
                                            "message_id": "wamid.in1"}).respond_with_json({"success": True})
    staff = login("staff")
    for _ in range(2):  # opened twice: marked once
        assert staff.get(f"/dashboard/messages/{conv.id}").status_code == 200
    send_lane()
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
    assert [s.kind for s in sends(db)] == ["read"]


def test_a_send_cut_short_by_a_dead_worker_is_never_sent_twice(app, client, api, db, httpserver):
    """The worker died after it started calling Kapso: the reply may have gone out, so the
    takeover makes it a dead letter shown in red, never a second send."""
    from vani import tenancy
    from vani.conversations.sending import MESSAGE_SENDS, _started
    from vani.work import claims

    conv = kapso_conversation(app, client, db, httpserver)
    reply(api, conv)
    with tenancy.acting_for(None):
        claim = claims.claim(MESSAGE_SENDS, app.config)
        with tenancy.acting_for(conv.org_id):
            assert _started(claim, claim.ids[0])  # … and then the process was killed
        later = utcnow() + MESSAGE_SENDS.lease(app.config) + timedelta(seconds=1)
        assert claims.take_over(MESSAGE_SENDS, app.config, later) == claim.ids
    assert send_lane(later + timedelta(hours=1)) == 0 and len(httpserver.log) == 0
    (send,) = sends(db)
    assert send.status == "dead" and "may have gone out" in send.last_error
    (msg,) = outbound(db)
    assert msg.status == "failed" and "may have gone out" in msg.error_detail
    assert count(db, Notification, Notification.kind == "message.failed") == 1  # the team is told


def test_a_send_that_outlived_its_lease_is_still_recorded_as_sent(app, client, api, db, httpserver, monkeypatch):
    """The call took longer than the lease: the takeover guessed "may have gone out", then the
    call returned with the provider's id. The reply is sent, not failed, and sent only once."""
    from vani.conversations import sending
    from vani.plugins.messaging import Accepted
    from vani.work import claims

    conv = kapso_conversation(app, client, db, httpserver)
    reply(api, conv)
    calls = []

    def slow_call(send, conv, message, cfg):  # the lease runs out before the call's answer is recorded
        calls.append(send.id)
        later = utcnow() + sending.MESSAGE_SENDS.lease(cfg) + timedelta(seconds=1)
        assert claims.take_over(sending.MESSAGE_SENDS, cfg, later) == [send.id]
        return lambda: Accepted("wamid.slow", 200)

    monkeypatch.setattr(sending, "_call", slow_call)
    send_lane()
    assert send_lane(utcnow() + timedelta(hours=1)) == 0 and len(calls) == 1
    (send,) = sends(db)
    assert send.status == "sent"
    (msg,) = outbound(db)
    assert (msg.status, msg.provider_message_id, msg.error_code) == ("sent", "wamid.slow", None)
