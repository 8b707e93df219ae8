"""Signature vectors for both booking providers, and the records kept of refused calls."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.bookings import cal_booking, calendly
from tests.settings import SECRETS
from tests.signing import cal_com_headers, calendly_headers
from vani.models import RejectedCall, WebhookEvent

BODY = json.dumps(calendly("invitee.created")).encode()
CAL_BODY = json.dumps(cal_booking("BOOKING_CREATED", "sig1")).encode()
KEY = SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"]


def sig(t: int | str, body: bytes = BODY, secret: str = KEY) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def post(client, header: str | None, body: bytes = BODY, url: str = "/api/webhooks/calendly"):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Calendly-Webhook-Signature"] = header
    return client.post(url, data=body, headers=headers)


def test_good_signature_is_accepted_and_marked_verified(client):
    r = client.post("/api/webhooks/calendly", data=BODY, headers=calendly_headers(BODY))
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert bs.event(r.json["event_id"]).verified is True


def test_second_calendly_url_answers_too(client):
    r = client.post("/api/v1/calendly/webhook", data=BODY, headers=calendly_headers(BODY))
    assert r.status_code == 200 and r.json["status"] == "accepted"
    stored = bs.event(r.json["event_id"])
    assert (stored.provider, stored.verified, bytes(stored.body)) == ("calendly", True, BODY)


# Headers are built at test time from the current clock ``t``.
@pytest.mark.parametrize("make,reason", [
    (lambda t: None, "missing_signature"),
    (lambda t: "", "missing_signature"),
    (lambda t: f"t={t},v1={sig(t, secret='wrong-key')}", "invalid_signature"),
    (lambda t: f"t={t},v1={sig(t, body=BODY + b' ')}", "invalid_signature"),     # other bytes were signed
    (lambda t: f"t={t - 600},v1={sig(t - 600)}", "stale_timestamp"),
    (lambda t: f"t={t + 600},v1={sig(t + 600)}", "stale_timestamp"),             # from the future
    (lambda t: f"t={t + 1},v1={sig(t)}", "invalid_signature"),                   # t is part of what is signed
    (lambda t: "garbage", "invalid_signature"),
    (lambda t: f"v1={sig(t)}", "invalid_signature"),                             # no t=
    (lambda t: f"t={t}", "invalid_signature"),                                   # no v1=
    (lambda t: f"t=soon,v1={sig('soon')}", "invalid_signature"),
    (lambda t: f"t={'9' * 5000},v1=00", "invalid_signature"),
    (lambda t: "t=,v1=", "invalid_signature"),
    (lambda t: f"t={t},v1=zz-not-hex-\u00e9", "invalid_signature"),
    (lambda t: f"t={t},v0={sig(t)}", "invalid_signature"),                       # only v1 counts
    (lambda t: f"t={t},v1={sig(t, secret='a')},v1={sig(t, secret='b')}", "invalid_signature"),
])
def test_refused_calendly_signatures(client, make, reason):
    r = post(client, make(int(time.time())))
    assert r.status_code == 401 and r.is_json and r.json["error"] == reason
    assert bs.count(WebhookEvent) == 0
    assert bs.count(RejectedCall, RejectedCall.reason == reason) == 1


@pytest.mark.parametrize("make", [
    lambda t: f"t={t},v1={sig(t, secret='old-key')},v1={sig(t)}",               # several v1: any match passes
    lambda t: f"t={t},v1={sig(t)},v1={sig(t, secret='old-key')}",
    lambda t: f" t={t} , v1={sig(t).upper()} ",
    lambda t: f"t={t - 100},v1={sig(t - 100)}",                                  # inside the 180 s tolerance
])
def test_accepted_calendly_signatures(client, make):
    r = post(client, make(int(time.time())))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "accepted" and bs.event(r.json["event_id"]).verified is True
    assert bs.count(RejectedCall) == 0


def test_tolerance_is_configurable(client, app):
    app.config["VANI_SIGNATURE_TOLERANCE_SECONDS"] = 10
    t = int(time.time()) - 60
    assert post(client, f"t={t},v1={sig(t)}").json["error"] == "stale_timestamp"


def test_a_secret_stored_by_vani_also_verifies(client, app, db):
    from vani.models import ProviderCredential
    from vani.orgs.secrets import forget_cached_secrets

    db.session.add(ProviderCredential(provider="calendly", name="webhook_secret", value="registered-key"))
    db.session.commit()
    forget_cached_secrets()
    t = int(time.time())
    r = post(client, f"t={t},v1={sig(t, secret='registered-key')}")
    assert r.status_code == 200
    assert r.json["status"] == "accepted" and bs.event(r.json["event_id"]).verified is True


def test_signing_key_alias(monkeypatch):
    from config import TestingConfig

    monkeypatch.delenv("CALENDLY_WEBHOOK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SECRET", "from-alias")
    assert TestingConfig().CALENDLY_WEBHOOK_SIGNING_KEY == "from-alias"


def cal_post(client, signature: str | None, body: bytes = CAL_BODY):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature
    return client.post("/api/webhooks/cal-com", data=body, headers=headers)


def cal_sig(body: bytes = CAL_BODY, secret: str = SECRETS["CAL_COM_WEBHOOK_SECRET"]) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signature", [cal_sig(), cal_sig().upper(), "sha256=" + cal_sig()])
def test_cal_com_good_signatures(client, signature):
    r = cal_post(client, signature)
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert bs.event(r.json["event_id"]).verified is True


@pytest.mark.parametrize("signature,reason", [
    (None, "missing_signature"),
    ("", "missing_signature"),
    (cal_sig(secret="wrong"), "invalid_signature"),
    (cal_sig(body=CAL_BODY + b"\n"), "invalid_signature"),
    ("not hex at all", "invalid_signature"),
    ("sha256=", "invalid_signature"),
])
def test_cal_com_refused_signatures(client, signature, reason):
    r = cal_post(client, signature)
    assert r.status_code == 401 and r.json["error"] == reason
    assert bs.count(WebhookEvent) == 0


def test_cal_com_underscore_url(client):
    r = client.post("/api/webhooks/cal_com", data=CAL_BODY, headers=cal_com_headers(CAL_BODY))
    assert r.status_code == 200
    stored = bs.event(r.json["event_id"])
    assert stored.provider == "cal_com" and stored.verified is True and stored.event_type == "BOOKING_CREATED"


def test_rejected_call_record_has_reason_headers_and_address(client):
    r = client.post("/api/webhooks/calendly", data=BODY, environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={
        "Content-Type": "application/json", "Calendly-Webhook-Signature": "t=1,v1=deadbeef",
        "Authorization": "Bearer secret-token", "Cookie": "session=secret", "X-Padding": "p" * 5000})
    assert r.status_code == 401
    call = bs.db_one(select(RejectedCall))
    assert (call.provider, call.reason, call.remote_addr, call.body_size) == (
        "calendly", "invalid_signature", "203.0.113.9", len(BODY))
    assert call.headers["Calendly-Webhook-Signature"] == "t=1,v1=deadbeef"
    assert "Authorization" not in call.headers and "Cookie" not in call.headers
    assert len(json.dumps(call.headers)) < 3000  # a bounded excerpt
    assert "body" not in call.to_dict()


def test_rejected_calls_table_stays_bounded(client, app, db):
    app.config["VANI_REJECTED_CALLS_MAX"] = 10
    for _ in range(120):
        assert post(client, "garbage").status_code == 401
    kept = bs.count(RejectedCall)
    assert 10 <= kept <= 10 + 50  # trimmed every 50 calls to the newest 10
    ids = list(db.session.execute(select(RejectedCall.id).order_by(RejectedCall.id)).scalars())
    assert ids == list(range(ids[-1] - kept + 1, ids[-1] + 1))  # the newest ones are the ones kept
