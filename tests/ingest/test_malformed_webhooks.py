"""Hostile input at every inbound webhook endpoint: whatever a client sends, the answer is a clear
4xx JSON error or an acceptance (never a 5xx), every refusal is recorded, and every stored event
ends ``processed`` or ``ignored`` with a reason (never ``failed`` because a mapper crashed)."""
from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import func, select

from tests import odd_input as hs
from tests.odd_input import URLS
from tests.signing import calendly_headers
from vani.models import RejectedCall, WebhookEvent
from vani.providers.registry import webhook_providers


@pytest.fixture
def hostile(app):
    # Every refusal is compared with its record: no sampling of a flood here.
    app.config.update(GMAIL_PUSH_TOKEN=hs.GMAIL_TOKEN, VANI_REJECTED_CALLS_PER_MINUTE=100_000)
    return app


class Tally:
    """Checks each answer and counts refusals, to compare with the rejected-call records."""

    def __init__(self):
        self.refused = 0
        self.accepted = 0

    def check(self, r, provider: str, what) -> None:
        assert r.status_code < 500, (provider, r.status_code, r.get_data()[:300], repr(what)[:300])
        if r.status_code >= 400:
            assert r.is_json and isinstance(r.json.get("error"), str), (provider, r.status_code, r.get_data()[:300])
            self.refused += r.status_code != 405
        elif provider == "twilio":
            assert r.mimetype == "text/xml" and r.get_data().endswith(b"<Response/>"), r.get_data()[:300]
            self.accepted += 1
        else:
            assert r.status_code == 200 and r.json["status"] in ("accepted", "duplicate"), r.json
            self.accepted += 1


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def assert_events_settled(db) -> None:
    """No event failed, none left behind, every ignored one says why."""
    rows = db.session.execute(select(WebhookEvent.id, WebhookEvent.provider, WebhookEvent.status,
                                     WebhookEvent.outcome)).all()
    bad = [(i, p, s, o) for i, p, s, o in rows if s not in ("processed", "ignored") or (s == "ignored" and not o)]
    assert not bad, bad[:10]


def test_every_provider_has_hostile_coverage():
    """A provider added to the registry must be added here too."""
    assert {p.name for p in webhook_providers()} == set(URLS)


def test_real_shaped_bodies_with_broken_fields_verify_and_settle(client, hostile, db, run_worker):
    """Signed bodies of every known shape, each field in turn replaced by null, a list, an object,
    a huge number, NaN, NUL, a lone surrogate, a huge string …: accepted or refused with a reason,
    and the worker maps or ignores each one."""
    tally, n = Tally(), 0
    for provider, bodies in hs.json_bodies().items():
        for shape, (event, base) in enumerate(bodies):
            for doc in hs.mutations(base, seed=shape * 31 + len(provider), per_path=1, extra=20):
                n += 1
                body = hs.dump(hs.make_unique(provider, doc, n))
                query = f"?token={hs.GMAIL_TOKEN}" if provider == "gmail" and n % 2 else ""
                r = client.post(URLS[provider] + query, data=body, headers=hs.sign(provider, body, event))
                tally.check(r, provider, doc)
    # Gmail's inner, base64-encoded document gets the same treatment.
    for doc in hs.mutations({"emailAddress": "a@example.test", "historyId": 1}, seed=5, per_path=8):
        n += 1
        body = hs.dump(hs.make_unique("gmail", hs.gmail_push(doc), n))
        tally.check(client.post(URLS["gmail"], data=body, headers=hs.sign("gmail", body)), "gmail", doc)
    assert tally.accepted > 300 and count(db, RejectedCall) == tally.refused
    run_worker()
    db.session.expire_all()
    assert_events_settled(db)
    assert count(db, WebhookEvent, WebhookEvent.status == "processed") > 100


def test_twilio_forms_with_broken_fields_verify_and_settle(client, hostile, db, run_worker):
    tally = Tally()
    for fields in hs.twilio_forms(seed=11):
        body = hs.form_body(fields)
        tally.check(hs.post_twilio_raw(client, body), "twilio", fields)
    assert tally.accepted > 50 and count(db, RejectedCall) == tally.refused
    run_worker()
    db.session.expire_all()
    assert_events_settled(db)


@pytest.mark.parametrize("provider", sorted(URLS))
def test_garbage_bodies_signed_and_unsigned(client, hostile, db, provider):
    rng = random.Random(len(provider))
    tally = Tally()
    bodies = [hs.random_json_bytes(rng) for _ in range(60)] + [
        b"", b"\x00" * 10, b"\xff\xfe{}", b"{}", b"[]", b"null", b'"x"', b"1e999", b"NaN",
        b"[" * 100_000, b"[" * 50_000 + b"]" * 50_000, hs.dump(hs.nested(900)), hs.dump(hs.nested(80)),
        hs.dump({"event": hs.nested(500)}), b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"event": "invitee.created", "payload": {"uri": "x", "n": ' + b"9" * 5000 + b"}}",
        b"Body=hi&MessageSid=SM1&From=whatsapp%3A%2B1555", b"\xef\xbb\xbf{}",
    ]
    for body in bodies:
        for signed in (True, False):
            headers = {"Content-Type": rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                                   "multipart/form-data", "", "application/json; charset=utf-16"])}
            if signed and provider == "twilio":
                r = hs.post_twilio_raw(client, body.decode("latin-1"), {"Content-Type": headers["Content-Type"]})
            else:
                if signed:
                    headers = {**hs.sign(provider, body, "whatsapp.message.received"), **headers}
                r = client.post(URLS[provider], data=body, headers=headers)
            tally.check(r, provider, body[:100])
    assert count(db, RejectedCall) == tally.refused


SIG_HEADERS = ["Calendly-Webhook-Signature", "X-Cal-Signature-256", "X-Webhook-Signature", "X-Kapso-Signature",
               "X-Twilio-Signature", "Authorization", "X-Webhook-Event", "X-Idempotency-Key", "X-Webhook-Batch",
               "X-Twilio-Webhooks-Signature-Settings", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For",
               "Content-Type", "Content-Length", "User-Agent"]
HEADER_VALUES = ["", " ", "\u00e9\u00ff", "\u00c3\u00a9", "t=,v1=", "t=1,v1=", "t=99999999999999999999999,v1=ab",
                 "t=" + "9" * 5000 + ",v1=00", "v1=" + "a" * 64 + "," * 500, "sha256=", "sha256=zz", "Bearer",
                 "Bearer " + "x" * 10_000, "x" * 100_000, "true", "key=k,algorithm=HMAC_MD5", "host:99999999",
                 "[::1", "a" * 300 + ".example", "-1", "1e999", "\x7f\x01"]


def signed_call(provider: str) -> tuple[bytes, list[tuple[str, str]]]:
    """A well-formed body with headers that verify (Twilio: for the URL as called directly)."""
    if provider == "twilio":
        body = hs.form_body(hs.TWILIO_INBOUND)
        return body.encode(), [("X-Twilio-Signature", hs.twilio_signature(hs.LOCAL_TWILIO_URL, body)),
                               ("Content-Type", "application/x-www-form-urlencoded")]
    body = hs.dump(hs.json_bodies()[provider][0][1])
    return body, list(hs.sign(provider, body, "whatsapp.message.received").items())


@pytest.mark.parametrize("provider", sorted(URLS))
def test_bad_headers(client, hostile, db, provider):
    """Odd, duplicated and enormous headers on a well-formed body, with and without a proxy."""
    rng = random.Random(provider)
    tally = Tally()
    single = [[(name, value)] for name in SIG_HEADERS for value in HEADER_VALUES]  # each one alone …
    combos = [[(rng.choice(SIG_HEADERS), rng.choice(HEADER_VALUES)) for _ in range(rng.randint(2, 4))]
              for _ in range(40)]  # … and a few together
    for i, extra in enumerate(single + combos):
        hostile.config["VANI_TRUST_PROXY"] = i % 2 == 0 or extra[0][0].startswith("X-Forwarded")
        body, headers = signed_call(provider)
        if i % 3 == 0:
            headers.append(headers[0])  # duplicated
        names = {name.lower() for name, _ in extra}
        headers = [h for h in headers if h[0].lower() not in names or i % 5 == 0] + extra  # replaced or added
        r = client.post(URLS[provider], data=body, headers=headers)
        tally.check(r, provider, headers)
    assert count(db, RejectedCall) == tally.refused


@pytest.mark.parametrize("provider", sorted(URLS))
def test_bad_query_strings_and_methods(client, hostile, db, provider):
    tally = Tally()
    body, headers = signed_call(provider)
    for query in ["?a=%00", "?token=%FF%FE", "?" + "x" * 20_000, "?bodySHA256=" + "0" * 64, "?token=&token=x",
                  "?%E9=%ED%A0%80", "?a[]=1&a[]=2", "?;;;&&&==="]:
        r = client.post(URLS[provider] + query, data=body, headers=headers)
        tally.check(r, provider, query)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        r = client.open(URLS[provider], method=method, data=body)
        assert r.status_code == 405 and r.is_json and r.json["error"]
    assert count(db, RejectedCall) == tally.refused


def test_far_future_timestamp_that_verifies_is_stale_not_a_crash(client, hostile, db):
    body = hs.dump(hs.json_bodies()["calendly"][0][1])
    for t in (10 ** 30, -(10 ** 30), 10 ** 400):
        r = client.post(URLS["calendly"], data=body, headers=calendly_headers(body, t=t))
        assert r.status_code == 401 and r.json["error"] == "stale_timestamp", r.json
    assert count(db, WebhookEvent) == 0 and count(db, RejectedCall, RejectedCall.reason == "stale_timestamp") == 3


def test_rejected_call_record_is_bounded_for_huge_urls_and_addresses(client, hostile, db):
    """A 401 behind a proxy sending an enormous host still records the (truncated) URL checked."""
    hostile.config["VANI_TRUST_PROXY"] = True
    body = hs.form_body(hs.TWILIO_INBOUND)
    r = client.post(URLS["twilio"], data=body, content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": "bad", "X-Forwarded-Host": "h" * 5000 + ".example",
                             "X-Forwarded-For": "203.0.113.9, " + "1" * 500})
    assert r.status_code == 401 and r.json["error"] == "invalid_signature"
    row = db.session.execute(select(RejectedCall)).scalar_one()
    assert row.checked_url.startswith("http://hhhh") and len(row.checked_url) <= 2048
    assert row.remote_addr is not None and len(row.remote_addr) <= 64


def test_kapso_batch_with_hostile_items(client, hostile, db, run_worker):
    """Each batch item is its own event, stored even when odd (never losing its neighbours), and
    each settles; only a batch without a ``data`` list is refused."""
    tally = Tally()
    item = hs.kapso_message("wamid.b0")
    for i, doc in enumerate(hs.mutations(item, seed=3, per_path=1, extra=10)):
        batch = {"type": "whatsapp.message.received", "batch": True, "data": [doc, hs.kapso_message(f"wamid.b{i + 1}")]}
        body = hs.dump(batch)
        headers = {**hs.sign("kapso", body, "whatsapp.message.received"), "X-Webhook-Batch": "true"}
        r = client.post(URLS["kapso"], data=body, headers=headers)
        tally.check(r, "kapso", doc)
        assert r.status_code == 200 and len(r.json["event_ids"]) == 2, r.json
    for data in (None, [], {}, "x", 1, hs.nested(41)):
        body = json.dumps({"type": "whatsapp.message.received", "batch": True, "data": data}).encode()
        r = client.post(URLS["kapso"], data=body, headers={**hs.sign("kapso", body), "X-Webhook-Batch": "true"})
        tally.check(r, "kapso", data)
        assert r.status_code == 400 and r.json["error"] == "missing_batch_data"
    assert tally.accepted > 30 and count(db, RejectedCall) == tally.refused
    run_worker()
    db.session.expire_all()
    assert_events_settled(db)
