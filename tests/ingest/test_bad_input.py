"""Every class of bad input gets a clear JSON answer (400/401/405/413/415), never a 500."""
from __future__ import annotations

import io
import json
import logging

import pytest

from tests import bookings as bs
from tests.bookings import cal_booking, calendly
from tests.signing import cal_com_headers, calendly_headers
from vani.models import RejectedCall, WebhookEvent

URLS = {"calendly": "/api/webhooks/calendly", "cal_com": "/api/webhooks/cal-com"}
SIGN = {"calendly": calendly_headers, "cal_com": cal_com_headers}


def send(client, provider: str, body: bytes, content_type: str | None = "application/json", **kw):
    headers = SIGN[provider](body)
    headers.pop("Content-Type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(URLS[provider], data=body, headers=headers, **kw)


BAD_BODIES = [
    (b"", "empty_body"),
    (b"   \n", "empty_body"),
    (b"{not json", "invalid_json"),
    (b"\xff\xfe\x00garbage", "invalid_json"),
    (b'{"a": 1} trailing', "invalid_json"),
    (b"[" * 100_000 + b"]" * 100_000, None),   # nested too deeply for the parser: 400, whatever the code
    (b"[]", "not_an_object"),
    (b'[{"event": "invitee.created"}]', "not_an_object"),
    (b'"a string"', "not_an_object"),
    (b"42", "not_an_object"),
    (b"null", "not_an_object"),
]


@pytest.mark.parametrize("provider", URLS)
@pytest.mark.parametrize("body,code", BAD_BODIES)
def test_bodies_that_are_not_a_json_object(client, provider, body, code):
    r = send(client, provider, body)
    assert r.status_code == 400 and r.is_json
    if code:
        assert r.json["error"] == code
    assert r.json.get("detail")
    assert bs.count(WebhookEvent) == 0
    assert bs.count(RejectedCall) == 1


@pytest.mark.parametrize("provider,data,code", [
    ("calendly", {"payload": {}}, "missing_event"),
    ("calendly", {"event": "", "payload": {}}, "missing_event"),
    ("calendly", {"event": ["invitee.created"], "payload": {}}, "missing_event"),
    ("calendly", {"event": "invitee.created"}, "missing_payload"),
    ("calendly", {"event": "invitee.created", "payload": "x"}, "missing_payload"),
    ("cal_com", {"payload": {"uid": "x"}}, "missing_trigger"),
    ("cal_com", {"triggerEvent": 5, "payload": {}}, "missing_trigger"),
])
def test_missing_event_name(client, provider, data, code):
    r = send(client, provider, json.dumps(data).encode())
    assert r.status_code == 400 and r.json["error"] == code
    assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall, RejectedCall.reason == code) == 1


@pytest.mark.parametrize("provider", URLS)
def test_body_over_the_configured_limit_is_413(client, app, provider):
    app.config["VANI_MAX_BODY_BYTES"] = 2000
    body = json.dumps(cal_booking("BOOKING_CREATED", "big", title="x" * 3000)
                      if provider == "cal_com" else calendly("invitee.created", title="x" * 3000)).encode()
    r = send(client, provider, body)
    assert r.status_code == 413 and r.json["error"] == "body_too_large" and "2000" in r.json["detail"]
    assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall, RejectedCall.reason == "body_too_large") == 1


def test_max_content_length_also_gives_json_413(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 500
    body = json.dumps(calendly("invitee.created")).encode()
    r = send(client, "calendly", body)
    assert r.status_code == 413 and r.is_json
    assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall, RejectedCall.reason == "body_too_large") == 1


def test_chunked_body_over_the_limit_is_413(client, app):
    app.config["VANI_MAX_BODY_BYTES"] = 1000
    body = json.dumps(calendly("invitee.created", title="y" * 2000)).encode()
    headers = calendly_headers(body)
    r = client.post(URLS["calendly"], input_stream=io.BytesIO(body), headers={**headers, "Transfer-Encoding": "chunked"},
                    environ_base={"wsgi.input_terminated": True})  # as a server sets it for chunked bodies
    assert r.status_code == 413 and r.is_json
    assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall, RejectedCall.reason == "body_too_large") == 1


def test_body_at_the_limit_is_accepted(client, app):
    body = json.dumps(calendly("invitee.created")).encode()
    app.config["VANI_MAX_BODY_BYTES"] = len(body)
    r = send(client, "calendly", body)
    assert r.status_code == 200
    assert r.json["status"] == "accepted" and bs.event(r.json["event_id"]).payload == json.loads(body)
    assert bs.count(RejectedCall) == 0


@pytest.mark.parametrize("provider", URLS)
@pytest.mark.parametrize("content_type,status", [
    ("text/plain", 415),
    ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415),
    ("application/xml", 415),
    ("application/json; charset=utf-8", 200),
    ("application/vnd.provider+json", 200),
    (None, 200),                                    # not declared: the body decides
])
def test_content_type(client, provider, content_type, status):
    body = json.dumps(cal_booking("BOOKING_CREATED", "ct") if provider == "cal_com" else calendly("invitee.created"))
    r = send(client, provider, body.encode(), content_type)
    assert r.status_code == status and r.is_json
    if status == 415:
        assert r.json["error"] == "unsupported_media_type"
        assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall) == 1
    else:
        assert bs.event(r.json["event_id"]).payload == json.loads(body) and bs.count(RejectedCall) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_get_json_405(client, method):
    r = client.open(URLS["calendly"], method=method)
    assert r.status_code == 405 and r.is_json
    assert bs.count(WebhookEvent) == 0


def test_payload_with_nul_and_nan_is_stored(client, run_worker):
    """PostgreSQL's JSON refuses NUL characters and NaN: the payload is cleaned, the raw body kept."""
    data = calendly("invitee.created", name="Nul\u0000Name")
    body = json.dumps(data).replace('"tracking": {}', '"tracking": {"score": NaN, "max": Infinity}').encode()
    r = send(client, "calendly", body)
    assert r.status_code == 200, r.json
    ev = bs.event(r.json["event_id"])
    assert bytes(ev.body) == body
    assert ev.payload["payload"]["name"] == "NulName" and ev.payload["payload"]["tracking"] == {"score": None,
                                                                                               "max": None}
    run_worker()
    assert bs.event(r.json["event_id"]).status == "processed"
    assert bs.prospect("lena@example.test").name == "NulName"


def test_fuzzed_inputs_never_500(client):
    import random

    rng = random.Random(7)
    accepted = 0
    pieces = [b"{", b"}", b"[", b"]", b'"event"', b":", b",", b'"payload"', b"null", b"\\u0000", b"\xff", b"1e999"]
    for i in range(200):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        provider = "calendly" if i % 2 else "cal_com"
        r = send(client, provider, body, rng.choice(["application/json", None, "text/plain"]))
        assert r.status_code in (200, 400, 415) and r.is_json, (body, r.status_code)
        accepted += r.status_code == 200
    assert bs.count(WebhookEvent) == accepted  # every acceptance stored one event, no refusal any


def test_unconfigured_secret_in_testing_accepts_unverified_with_warning(client, app, run_worker, caplog):
    app.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = None
    body = json.dumps(calendly("invitee.created")).encode()
    with caplog.at_level(logging.WARNING, logger="vani.ingest"):
        r = client.post(URLS["calendly"], data=body, content_type="application/json")
    assert r.status_code == 200 and r.json["verified"] is False
    assert "CALENDLY_WEBHOOK_SIGNING_KEY" in r.json["warning"]
    assert any("UNVERIFIED" in rec.getMessage() for rec in caplog.records)
    assert bs.event(r.json["event_id"]).verified is False
    run_worker()
    assert bs.event(r.json["event_id"]).status == "processed"


def test_unconfigured_secret_in_production_is_refused(client, app):
    app.config.update(CAL_COM_WEBHOOK_SECRET=None, ENV_NAME="production")
    body = json.dumps(cal_booking("BOOKING_CREATED", "prod")).encode()
    r = client.post(URLS["cal_com"], data=body, content_type="application/json")
    assert r.status_code == 503 and r.json["error"] == "secret_not_configured"
    assert "CAL_COM_WEBHOOK_SECRET" in r.json["detail"]
    assert bs.count(WebhookEvent) == 0 and bs.count(RejectedCall, RejectedCall.reason == "secret_not_configured") == 1
