"""Twilio: the RequestValidator vectors, signed form bodies (direct and behind a proxy), every
shared fixture through the endpoint and the worker, TwiML answers and dedupe; the costly signature
check runs only on plausible forms, and bodySHA256 is read from the query as twilio reads it."""
from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from tests.paths import shared_fixture_dir
from tests.whatsapp_signing import LOCAL_TWILIO_URL, post_twilio, twilio_signature
from vani.models import Conversation, Message, RejectedCall, WebhookEvent

# The vectors of twilio's own RequestValidator tests (token "12345", a URL with a query string).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
                 "To": "+18005551212", "Caller": "+14158675309"}

INBOUND = ("SmsMessageSid=SMaaa&NumMedia=0&ProfileName=Ana+Lima&WaId=15550100009&SmsStatus=received"
           "&Body=Ol%C3%A1%2C+quero+agendar&To=whatsapp%3A%2B14155238886&MessageSid=SMaaa"
           "&AccountSid=ACx&From=whatsapp%3A%2B15550100009&ApiVersion=2010-04-01")


def status_body(sid: str, status: str, to: str = "%2B15550100009", extra: str = "") -> str:
    return (f"SmsSid={sid}&SmsStatus={status}&MessageStatus={status}&To=whatsapp%3A{to}"
            f"&MessageSid={sid}&AccountSid=ACx&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01{extra}")


def db_events() -> list[WebhookEvent]:
    from vani.extensions import db

    return list(db.session.execute(select(WebhookEvent)).scalars())


def refusals() -> list[str]:
    """The reasons of the refused calls recorded, oldest first."""
    from vani.extensions import db

    return list(db.session.execute(select(RejectedCall.reason).order_by(RejectedCall.id)).scalars())


def test_request_validator_official_vectors():
    validator = RequestValidator("12345")
    assert validator.compute_signature(VECTOR_URL, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.validate(VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Twilio may sign with or without the default port; both spellings validate.
    assert validator.validate(VECTOR_URL, VECTOR_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert validator.validate(VECTOR_URL.replace(".com", ".com:1234"), VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    duplicates = MultiDict([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")])
    assert validator.compute_signature(VECTOR_URL, duplicates) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert not validator.validate(VECTOR_URL, {**VECTOR_PARAMS, "Digits": "9"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_vani_verifier_accepts_the_vector(app):
    """Vani's verifier, fed the documented vector as a raw form body, accepts it."""
    from vani.plugins.contract import RequestData, SignatureError
    from vani.providers.twilio import verifier

    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in VECTOR_PARAMS.items()).encode()
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}
    data = RequestData(body=body, headers=headers, url=VECTOR_URL, form=dict(parse_qsl(body.decode())))
    verifier.verify(data, ["wrong-token", "12345"])
    with pytest.raises(SignatureError) as err:
        verifier.verify(RequestData(body=body, headers=headers, url=VECTOR_URL.replace("bar=2", "bar=3")), ["12345"])
    assert err.value.checked_url.endswith("bar=3")


def test_signed_inbound_answers_empty_twiml_and_dedupes(client, run_worker, db):
    r = post_twilio(client, INBOUND)
    assert r.status_code == 200
    assert r.mimetype == "text/xml"
    assert r.data.decode().endswith("<Response/>")
    assert r.headers["X-Vani-Status"] == "accepted"
    again = post_twilio(client, INBOUND)
    assert again.status_code == 200 and again.headers["X-Vani-Status"] == "duplicate"
    assert again.headers["X-Vani-Event-Ids"] == r.headers["X-Vani-Event-Ids"]
    run_worker()
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert (event.event_type, event.dedupe_key, event.status) == ("whatsapp.message.received", "SMaaa:received", "processed")
    msg = db.session.execute(select(Message)).scalar_one()
    assert (msg.direction, msg.text, msg.status) == ("inbound", "Olá, quero agendar", "received")
    conv = msg.conversation
    assert conv.phone == "+15550100009" and conv.provider_ref == "whatsapp:+14155238886:+15550100009"
    assert conv.prospect_id == event.prospect_id and conv.contact_name == "Ana Lima"


def test_bad_and_missing_signature_are_401_with_checked_url(client, db):
    r = post_twilio(client, INBOUND, token="not-the-token")
    assert r.status_code == 401 and r.json["error"] == "invalid_signature"
    r = client.post("/api/webhooks/twilio", data=INBOUND, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 401 and r.json["error"] == "missing_signature"
    rows = db.session.execute(select(RejectedCall).order_by(RejectedCall.id)).scalars().all()
    assert [row.checked_url for row in rows] == [LOCAL_TWILIO_URL, LOCAL_TWILIO_URL]
    assert db.session.execute(select(WebhookEvent)).first() is None


PUBLIC = "https://abc123.ngrok-free.app"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc123.ngrok-free.app"}


def test_behind_proxy_with_trust_proxy(client, app):
    app.config["VANI_TRUST_PROXY"] = True
    r = post_twilio(client, INBOUND, signed_url=PUBLIC + "/api/webhooks/twilio", headers=FORWARDED)
    assert r.status_code == 200, r.data
    stored = db_events()
    assert [(e.provider, e.verified) for e in stored] == [("twilio", True)]


def test_behind_tunnel_with_public_url(client, app):
    app.config["PUBLIC_URL"] = PUBLIC
    r = post_twilio(client, INBOUND, signed_url=PUBLIC + "/api/webhooks/twilio")
    assert r.status_code == 200, r.data
    stored = db_events()
    assert [(e.provider, e.verified) for e in stored] == [("twilio", True)]


def test_proxy_not_trusted_is_401_showing_the_url_checked(client, app, db):
    """Twilio signed the public URL, Vani checked its own: the classic 401, made visible."""
    r = post_twilio(client, INBOUND, signed_url=PUBLIC + "/api/webhooks/twilio", headers=FORWARDED)
    assert r.status_code == 401
    assert LOCAL_TWILIO_URL in r.json["detail"] and "PUBLIC_URL" in r.json["detail"]
    row = db.session.execute(select(RejectedCall)).scalar_one()
    assert row.checked_url == LOCAL_TWILIO_URL and row.reason == "invalid_signature"


def test_not_a_form_is_400(client):
    body = '{"MessageSid": "SM1"}'
    r = client.post("/api/webhooks/twilio", data=body, content_type="application/json",
                    headers={"X-Twilio-Signature": twilio_signature(LOCAL_TWILIO_URL, body)})
    assert r.status_code == 400 and r.json["error"] == "not_form_encoded"
    r = post_twilio(client, "Body=hi&From=whatsapp%3A%2B15550100009")
    assert r.status_code == 400 and r.json["error"] == "missing_message_sid"
    assert db_events() == [] and refusals() == ["not_form_encoded", "missing_message_sid"]


def test_every_shared_fixture_through_the_endpoint(client, run_worker, db):
    files = sorted(shared_fixture_dir("twilio").glob("*.txt"))
    assert files
    for path in files:
        body = path.read_text().strip()
        r = post_twilio(client, body)
        assert r.status_code == 200, (path.name, r.data)
        assert r.headers["X-Vani-Status"] == "accepted", path.name
    run_worker()
    events = db.session.execute(select(WebhookEvent)).scalars().all()
    assert len(events) == len(files)
    assert {e.status for e in events} == {"processed"}, [(e.dedupe_key, e.outcome) for e in events]
    messages = {m.provider_message_id: m for m in db.session.execute(select(Message)).scalars()}
    assert len(messages) == len(files)
    image = messages["MM21151abfaadc1fb79b782f8460862a52"]
    assert image.type == "image" and image.media_urls[0].startswith("https://api.twilio.com/")
    location = messages["SM9c871cd9649aa3829298e153ae6a8123"]
    assert location.type == "location" and location.data["location"]["latitude"].startswith("52.30")
    button = messages["SM8824d91645395b17594d92659b878468"]
    assert button.text == "Konfirmasi" and button.data["button"]["payload"] == "{verifyEmail:asd@example.com}"
    read = messages["SMd5cfa9e002d043c18defc777668b08c1"]
    assert (read.direction, read.status) == ("outbound", "read") and read.read_at is not None
    assert read.conversation.phone == "+15550100002"
    # Legacy bodies from +31612345678: one conversation, inbound and outbound together.
    nl = db.session.execute(select(Conversation).where(Conversation.phone == "+31612345678")).scalar_one()
    assert {m.direction for m in nl.messages} == {"inbound", "outbound"}
    metadata = messages["SMf7cbe2cac02a991278c8c0f33d3e19cf"].conversation
    assert metadata.contact_name == "Ghanshyam Agrawal"


def test_failed_status_records_error_code(client, run_worker, db):
    post_twilio(client, status_body("SMf1", "sent"))
    post_twilio(client, status_body("SMf1", "undelivered", extra="&ErrorCode=63016&ErrorMessage=Outside+window"))
    run_worker()
    msg = db.session.execute(select(Message)).scalar_one()
    assert (msg.status, msg.error_code, msg.error_detail) == ("undelivered", "63016", "Outside window")
    assert msg.sent_at is not None and msg.failed_at is not None


@pytest.mark.parametrize("public", [None, PUBLIC, PUBLIC + "/"])
def test_signed_url_keeps_its_query_string_byte_for_byte(client, app, public):
    """Twilio signs the URL exactly as configured, percent-escapes included."""
    app.config["PUBLIC_URL"] = public
    target = "/api/webhooks/twilio?team=Jos%C3%A9&x=a%20b"
    signed = (public.rstrip("/") if public else "http://vani.test") + target
    body = status_body("SMq1", "sent")
    r = client.post(target, data=body, content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": twilio_signature(signed, body)})
    assert r.status_code == 200, r.get_data()
    stored = db_events()
    assert [(e.provider, e.verified) for e in stored] == [("twilio", True)]


def test_behind_proxy_the_event_keeps_the_client_address(client, app, db):
    app.config["VANI_TRUST_PROXY"] = True
    headers = {**FORWARDED, "X-Forwarded-For": "198.51.100.7, 203.0.113.20"}
    r = post_twilio(client, INBOUND, signed_url=PUBLIC + "/api/webhooks/twilio", headers=headers)
    assert r.status_code == 200
    assert db.session.execute(select(WebhookEvent)).scalar_one().remote_addr == "203.0.113.20"  # the proxy's hop
    headers["X-Forwarded-Host"] = "[::1"  # not a host: dropped, refused, and the URL checked is shown
    r = post_twilio(client, status_body("SMp1", "sent"), signed_url=PUBLIC + "/api/webhooks/twilio", headers=headers)
    assert r.status_code == 401 and r.json["error"] == "invalid_signature"
    assert "the URL https:///api/webhooks/twilio" in r.json["detail"]
    row = db.session.execute(select(RejectedCall)).scalar_one()
    assert row.checked_url == "https:///api/webhooks/twilio" and row.remote_addr == "203.0.113.20"


def test_an_oversized_twilio_form_is_refused_before_any_signature_work(client):
    body = "Body=" + "x" * (1024 * 1024)
    started = time.perf_counter()
    r = client.post("/api/webhooks/twilio", data=body, content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": "forged"})
    assert time.perf_counter() - started < 0.5
    assert r.status_code == 413 and r.json["error"] == "body_too_large" and "65536" in r.json["detail"]
    assert db_events() == [] and refusals() == ["body_too_large"]


def test_a_twilio_form_with_thousands_of_fields_is_refused(client):
    body = "&".join(f"f{i}=1" for i in range(5000))
    r = client.post("/api/webhooks/twilio", data=body, content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 400 and r.json["error"] == "too_many_fields"
    assert db_events() == [] and refusals() == ["too_many_fields"]


@pytest.mark.parametrize("query", ["?xbodySHA256=1", "?bodySHA256x=1", "?a=bodySHA256", "?bodySHA256=abc"])
def test_body_sha256_is_read_from_the_query_as_twilio_does(client, query):
    r = client.post(f"/api/webhooks/twilio{query}", data=b'{"not": "a form"}', content_type="application/json",
                    headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 401 and r.json["error"] == "invalid_signature"
    assert db_events() == [] and refusals() == ["invalid_signature"]
