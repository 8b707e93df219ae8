"""Subscriptions signed ``hmac-sha256``: ``X-Signature`` is the hex HMAC-SHA256 of the raw body
with the subscription's secret, and the body is ``{event, resource_id, timestamp, data}``; Standard
Webhooks stays the default. Through the API, the dashboard and a real local receiver."""
from __future__ import annotations

import hashlib
import hmac
import json
import pytest

from tests.outbound.helpers import attempts, deliver, delivery, emit, subscribe, verify
from vani.extensions import db
from vani.models import WebhookSubscription
from vani.outbound import rotate_secret, signing

SUBS = "/api/v1/webhooks/subscriptions"


def receiver_accepts(secret: str, request) -> dict:
    """What a receiver written to that design does: recompute the hex HMAC of the raw body."""
    expected = hmac.new(secret.encode(), request.get_data(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Signature"], expected)
    return json.loads(request.get_data())


def test_a_delivery_signed_hmac_sha256_verifies_and_reads_event_resource_id_timestamp_data(app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sub, secret = subscribe(httpserver.url_for("/hook"), signature="hmac-sha256")
    [delivery_id] = emit("meeting.scheduled", {"id": 42, "title": "Intro", "prospect_id": 7})
    assert deliver() == 1
    [(request, _)] = httpserver.log
    body = receiver_accepts(secret, request)
    assert body == {"event": "meeting.scheduled", "resource_id": "42", "timestamp": body["timestamp"],
                    "data": {"id": 42, "title": "Intro", "prospect_id": 7}}
    assert list(json.loads(request.get_data())) == ["event", "resource_id", "timestamp", "data"]
    d = delivery(delivery_id)
    assert request.headers["X-Webhook-Id"] == d.msg_id and "webhook-signature" not in request.headers
    assert d.status == "delivered"
    [attempt] = attempts(delivery_id)
    assert attempt.request_headers["x-signature"] == request.headers["X-Signature"]


def test_standard_webhooks_stays_the_default(app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sub, secret = subscribe(httpserver.url_for("/hook"))
    assert sub.signature == "standard-webhooks"
    emit("prospect.created", {"id": 3})
    deliver()
    [(request, _)] = httpserver.log
    assert verify(secret, request)["type"] == "prospect.created" and "X-Signature" not in request.headers


@pytest.mark.parametrize("event,data,expected", [
    ("prospect.created", {"id": 3, "email": "a@example.test"}, "3"),
    ("message.received", {"message": {"id": 9}, "conversation": {"id": 2}, "prospect": {"id": 3}}, "9"),
    ("payment.received", {"amount": "1.00", "meeting": {"id": 5}, "prospect": {"id": 3}}, "5"),
    ("email.received", {"email": {"id": 11, "prospect_id": 3}}, "11"),
    ("lead.created", {"lead": {"id": 4}, "prospect": {"id": 3}}, "4"),
    ("conversation.handoff", {"handoff": {"workflow_execution_id": "ex-1"}, "conversation": None}, "ex-1"),
    ("webhook.test", {"subscription_id": 8, "message": "Test"}, "8"),
    ("deal.won", {"amount": 3}, None),
])
def test_resource_id_names_what_the_event_is_about(event, data, expected):
    assert signing.resource_id(event, data) == expected


def test_during_a_rotation_the_previous_secret_signs_too(app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sub, old = subscribe(httpserver.url_for("/hook"), signature="hmac-sha256")
    _, new = rotate_secret(sub.id)
    emit("prospect.created", {"id": 3})
    deliver()
    [(request, _)] = httpserver.log
    receiver_accepts(new, request)
    previous = hmac.new(old.encode(), request.get_data(), hashlib.sha256).hexdigest()
    assert request.headers["X-Signature-Previous"] == previous


def test_a_custom_x_signature_header_never_goes_out_beside_the_real_one(app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sub, secret = subscribe(httpserver.url_for("/hook"), signature="hmac-sha256",
                            headers={"X-Signature": "forged", "X-Api-Key": "k-123"})
    emit("prospect.created", {"id": 3})
    deliver()
    [(request, _)] = httpserver.log
    assert request.headers.getlist("X-Signature") == [request.headers["X-Signature"]]
    receiver_accepts(secret, request)
    assert request.headers["X-Api-Key"] == "k-123"


def test_filters_look_at_the_body_the_receiver_gets(app, httpserver):
    sub, _ = subscribe(httpserver.url_for("/hook"), signature="hmac-sha256", filter=["resource_id = \"42\""])
    assert emit("meeting.scheduled", {"id": 42}) and not emit("meeting.scheduled", {"id": 43})


def test_the_api_creates_changes_and_shows_the_signature(api, httpserver):
    r = api.post(SUBS, json={"url": "https://crm.example.com/in", "events": "*", "signature": "hmac-sha256"})
    assert r.status_code == 201, r.json
    assert r.json["signature"] == "hmac-sha256"
    sub_id = r.json["id"]
    assert api.get(f"{SUBS}/{sub_id}").json["signature"] == "hmac-sha256"
    assert api.get(SUBS).json["data"][0]["signature"] == "hmac-sha256"
    patched = api.patch(f"{SUBS}/{sub_id}", json={"signature": "standard-webhooks"})
    assert patched.status_code == 200 and patched.json["signature"] == "standard-webhooks"
    default = api.post(SUBS, json={"url": "https://crm.example.com/other", "events": "*"})
    assert default.json["signature"] == "standard-webhooks"


@pytest.mark.parametrize("value", ["hmac-sha1", "", 7, None])
def test_an_unknown_signature_is_400(api, value):
    if value is None:  # null on a change: there is no "no signature"
        sub_id = api.post(SUBS, json={"url": "https://crm.example.com/in", "events": "*"}).json["id"]
        r = api.patch(f"{SUBS}/{sub_id}", json={"signature": None})
    else:
        r = api.post(SUBS, json={"url": "https://crm.example.com/in", "events": "*", "signature": value})
    assert r.status_code == 400 and r.json["field"] == "signature", r.json
    assert db.session.query(WebhookSubscription).filter_by(signature="hmac-sha256").count() == 0


def test_the_openapi_document_describes_the_choice(client):
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    assert schemas["SignatureScheme"]["enum"] == ["standard-webhooks", "hmac-sha256"]
    for name in ("SubscriptionIn", "SubscriptionPatch", "Subscription"):
        assert "#/components/schemas/SignatureScheme" in json.dumps(schemas[name]["properties"]["signature"]), name
    assert "X-Signature" in schemas["SubscriptionIn"]["properties"]["signature"]["description"]


def post(client, path, **form):
    return client.post(path, data={**form, "csrf_token": client.csrf})


def test_the_dashboard_form_creates_and_changes_the_signature(login):
    client = login("admin")
    page = client.get("/dashboard/subscriptions").get_data(as_text=True)
    assert '<select name="signature">' in page and 'value="hmac-sha256"' in page
    r = post(client, "/dashboard/subscriptions", url="https://crm.example.com/in", events="*", signature="hmac-sha256")
    assert r.status_code == 201
    sub = db.session.query(WebhookSubscription).one()
    assert sub.signature == "hmac-sha256"
    assert "X-Signature" in client.get(f"/dashboard/subscriptions/{sub.id}").get_data(as_text=True)
    post(client, f"/dashboard/subscriptions/{sub.id}", url=sub.url, events="*", signature="standard-webhooks")
    assert db.session.get(WebhookSubscription, sub.id, populate_existing=True).signature == "standard-webhooks"
    post(client, f"/dashboard/subscriptions/{sub.id}", url=sub.url, events="*")  # an older form: unchanged
    assert db.session.get(WebhookSubscription, sub.id, populate_existing=True).signature == "standard-webhooks"
    bad = post(client, "/dashboard/subscriptions", url="https://crm.example.com/x", events="*", signature="md5")
    assert bad.status_code == 400 and "signature:" in bad.get_data(as_text=True)
