"""The /api/v1/webhooks routes and the ``flask vani deliveries retry-failed`` command."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.outbound.helpers import deliver, emit, subscribe, verify
from vani.extensions import db
from vani.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow


def test_create_shows_the_secret_once_then_masks_it(api, httpserver):
    r = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/hook"),
                                                         "events": ["meeting.*"], "description": "CRM"})
    assert r.status_code == 201
    created = r.get_json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == ["meeting.*"] and created["active"] is True
    assert created["health"]["consecutive_failures"] == 0
    one = api.get(f"/api/v1/webhooks/subscriptions/{created['id']}").get_json()
    listed = api.get("/api/v1/webhooks/subscriptions").get_json()["data"]
    for shown in (one["secret"], listed[0]["secret"]):
        assert shown != created["secret"] and "…" in shown and created["secret"] not in shown


def test_create_accepts_a_given_secret_and_star(api, httpserver):
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"
    r = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/h"), "events": "*",
                                                         "secret": secret})
    assert r.status_code == 201 and r.get_json()["secret"] == secret and r.get_json()["events"] == ["*"]
    stored = db.session.get(WebhookSubscription, r.get_json()["id"])
    assert stored.events == ["*"] and stored.secret == secret


@pytest.mark.parametrize("body, field", [
    ({"events": ["*"]}, "url"),
    ({"url": "http://127.0.0.1:9999/h"}, "events"),
    ({"url": "ftp://x.test/", "events": ["*"]}, "url"),
    ({"url": "http://127.0.0.1:9999/h", "events": []}, "events"),
    ({"url": "http://127.0.0.1:9999/h", "events": ["Meeting Scheduled"]}, "events"),
    ({"url": "http://127.0.0.1:9999/h", "events": ["*"], "secret": "hunter2"}, "secret"),
    ({"url": "http://127.0.0.1:9999/h", "events": ["*"], "colour": "red"}, "colour"),
    ({"url": "http://127.0.0.1:9999/h", "events": ["*"], "description": 5}, "description"),
])
def test_create_validation_errors_name_the_field(api, body, field):
    r = api.post("/api/v1/webhooks/subscriptions", json=body)
    assert r.status_code == 400
    assert r.get_json()["field"] == field and r.get_json()["detail"]
    assert db.session.query(WebhookSubscription).count() == 0


def test_private_targets_refused_through_the_api_when_not_allowed(app, api):
    app.config["VANI_ALLOW_PRIVATE_TARGETS"] = False
    r = api.post("/api/v1/webhooks/subscriptions", json={"url": "http://[::1]:8080/h", "events": ["*"]})
    assert r.status_code == 400 and r.get_json()["field"] == "url" and "loopback" in r.get_json()["detail"]
    assert db.session.query(WebhookSubscription).count() == 0


def test_patch_rotate_delete_and_404s(api, httpserver):
    sub, old = subscribe(httpserver.url_for("/hook"))
    r = api.patch(f"/api/v1/webhooks/subscriptions/{sub.id}", json={"events": ["prospect.created"],
                                                                    "active": False, "description": "x"})
    assert r.status_code == 200
    assert r.get_json()["events"] == ["prospect.created"] and r.get_json()["active"] is False
    assert r.get_json()["health"]["disabled_reason"] == "disabled by a user"
    r = api.patch(f"/api/v1/webhooks/subscriptions/{sub.id}", json={"active": True})
    assert r.get_json()["health"]["disabled_reason"] is None
    assert api.patch(f"/api/v1/webhooks/subscriptions/{sub.id}", json={"active": "yes"}).get_json()["field"] == "active"
    refused = api.patch(f"/api/v1/webhooks/subscriptions/{sub.id}", json={"secret": "x"})
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "secret"
    r = api.post(f"/api/v1/webhooks/subscriptions/{sub.id}/rotate-secret")
    assert r.status_code == 200
    new = r.get_json()["secret"]
    assert new.startswith("whsec_") and new != old and r.get_json()["previous_secret_expires_at"]
    for method, url in [("get", "/api/v1/webhooks/subscriptions/999"), ("patch", "/api/v1/webhooks/subscriptions/999"),
                        ("delete", "/api/v1/webhooks/subscriptions/999"),
                        ("post", "/api/v1/webhooks/subscriptions/999/rotate-secret"),
                        ("post", "/api/v1/webhooks/subscriptions/999/test"),
                        ("get", "/api/v1/webhooks/deliveries/999"), ("post", "/api/v1/webhooks/deliveries/999/retry")]:
        r = getattr(api, method)(url, json={})
        assert r.status_code == 404, (method, url)
        assert r.get_json()["error"] == "not_found"
    assert api.delete(f"/api/v1/webhooks/subscriptions/{sub.id}").status_code == 204
    refused = api.get(f"/api/v1/webhooks/subscriptions/{sub.id}")
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"


def test_delete_removes_deliveries_and_attempts(api, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    sub, _ = subscribe(httpserver.url_for("/hook"))
    emit()
    deliver()
    assert api.delete(f"/api/v1/webhooks/subscriptions/{sub.id}").status_code == 204
    assert db.session.query(WebhookDelivery).count() == 0 and db.session.query(DeliveryAttempt).count() == 0


def test_test_event_goes_to_that_subscription_only(api, httpserver):
    httpserver.expect_request("/one").respond_with_data("ok")
    one, secret = subscribe(httpserver.url_for("/one"))
    subscribe(httpserver.url_for("/two"))
    r = api.post(f"/api/v1/webhooks/subscriptions/{one.id}/test")
    assert r.status_code == 202 and r.get_json()["event"] == "webhook.test" and r.get_json()["status"] == "pending"
    deliver()
    [(request, _)] = httpserver.log
    body = verify(secret, request)
    assert request.path == "/one" and body["type"] == "webhook.test" and body["data"]["subscription_id"] == one.id


def test_custom_event_reaches_every_matching_subscription(api, httpserver):
    httpserver.expect_request("/a").respond_with_data("ok")
    httpserver.expect_request("/b").respond_with_data("ok")
    subscribe(httpserver.url_for("/a"), ["deal.*"])
    subscribe(httpserver.url_for("/b"), ["*"])
    subscribe(httpserver.url_for("/c"), ["meeting.scheduled"])
    r = api.post("/api/v1/webhooks/deliveries", json={"event": "deal.won", "payload": {"amount": 10}})
    assert r.status_code == 202 and len(r.get_json()["delivery_ids"]) == 2
    deliver()
    assert sorted(req.path for req, _ in httpserver.log) == ["/a", "/b"]
    assert api.post("/api/v1/webhooks/deliveries", json={"event": "deal.*", "payload": {}}).get_json()["field"] == "event"
    assert api.post("/api/v1/webhooks/deliveries", json={"event": "deal.won", "payload": [1]}).get_json()["field"] == "payload"
    refused = api.post("/api/v1/webhooks/deliveries", data="nope")
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "body"


def test_custom_event_payload_text_is_stored_cleaned(api, httpserver, db):
    """NUL characters and lone surrogates (found by Schemathesis) are dropped or replaced, not a 503."""
    subscribe(httpserver.url_for("/a"), ["deal.*"])
    body = '{"event": "deal.won", "payload": {"k\\u0000ey": "a\\u0000b", "s": "\\ud800x", "n": [1, "\\udfff"]}}'
    r = api.post("/api/v1/webhooks/deliveries", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.get_json()
    from vani.models import OutboundEvent

    stored = db.session.query(OutboundEvent).one().data
    assert stored == {"key": "ab", "s": "\ufffdx", "n": [1, "\ufffd"]}


def test_list_filter_detail_and_retry(api, httpserver):
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    good, _ = subscribe(httpserver.url_for("/ok"), ["meeting.*"])
    bad, _ = subscribe(httpserver.url_for("/bad"), ["*"])
    emit("meeting.scheduled", key="m")
    emit("prospect.created", key="p")
    deliver()
    rows = api.get("/api/v1/webhooks/deliveries").get_json()["data"]
    assert len(rows) == 3
    assert set(rows[0]) >= {"id", "status", "attempts", "last_status_code", "last_error", "next_attempt_at"}
    pending = api.get(f"/api/v1/webhooks/deliveries?status=pending&subscription={bad.id}").get_json()["data"]
    assert len(pending) == 2 and all(r["last_status_code"] == 500 and r["next_attempt_at"] for r in pending)
    only = api.get("/api/v1/webhooks/deliveries?event=meeting.scheduled&status=delivered").get_json()["data"]
    assert [r["subscription_id"] for r in only] == [good.id]
    assert api.get("/api/v1/webhooks/deliveries?status=lost").get_json()["field"] == "status"
    assert api.get("/api/v1/webhooks/deliveries?subscription=x").get_json()["field"] == "subscription"
    page = api.get("/api/v1/webhooks/deliveries?limit=2").get_json()
    rest = api.get(f"/api/v1/webhooks/deliveries?limit=2&cursor={page['next_cursor']}").get_json()
    assert len(page["data"]) == 2 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    detail = api.get(f"/api/v1/webhooks/deliveries/{pending[0]['id']}").get_json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [500] and detail["attempt_log"][0]["request_headers"]
    r = api.post(f"/api/v1/webhooks/deliveries/{pending[0]['id']}/retry")
    assert r.status_code == 202 and r.get_json()["status"] == "pending"
    deliver()
    detail = api.get(f"/api/v1/webhooks/deliveries/{pending[0]['id']}").get_json()
    assert [a["trigger"] for a in detail["attempt_log"]] == ["scheduled", "manual"]


def test_bulk_retry_of_failed_deliveries(app, api, httpserver):
    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    app.config["VANI_RETRY_SCHEDULE"] = ""  # one attempt, then failed
    sub, _ = subscribe(httpserver.url_for("/bad"))
    emit(key="1")
    emit(key="2")
    deliver()
    assert {d.status for d in db.session.query(WebhookDelivery)} == {"failed"}
    future = (utcnow() + timedelta(hours=1)).isoformat()
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"status": "failed", "since": future})
    assert r.status_code == 202 and r.get_json()["requeued"] == 0
    assert api.post("/api/v1/webhooks/deliveries/retry", json={"since": "yesterday"}).get_json()["field"] == "since"
    assert api.post("/api/v1/webhooks/deliveries/retry", json={"status": "delivered"}).get_json()["field"] == "status"
    refused = api.post("/api/v1/webhooks/deliveries/retry", json={"subscription": 999})
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"status": "failed", "subscription": sub.id})
    assert r.get_json()["requeued"] == 2
    assert {d.status for d in db.session.query(WebhookDelivery)} == {"pending"}


def test_bulk_retry_filters_by_event_and_time_and_skips_disabled_subscriptions(app, httpserver):
    from vani.outbound import count_retryable, retry_failed, update_subscription

    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    app.config["VANI_RETRY_SCHEDULE"] = ""
    sub, _ = subscribe(httpserver.url_for("/bad"))
    off, _ = subscribe(httpserver.url_for("/bad"), ["prospect.*"])
    emit("meeting.scheduled", key="m")
    emit("prospect.created", key="p")  # one delivery per subscription
    deliver()
    update_subscription(off.id, active=False)
    assert count_retryable() == 2  # the disabled subscription's failure is not counted
    later = utcnow() + timedelta(minutes=1)
    assert count_retryable(event="meeting.scheduled") == 1 and count_retryable(until=utcnow() - timedelta(hours=1)) == 0
    assert retry_failed(event="meeting.scheduled", until=later) == 1
    by_type = {(d.subscription_id, d.event_type): d.status for d in db.session.query(WebhookDelivery)}
    assert by_type == {(sub.id, "meeting.scheduled"): "pending", (sub.id, "prospect.created"): "failed",
                       (off.id, "prospect.created"): "failed"}
    assert retry_failed() == 1 and count_retryable() == 0


def test_cli_retry_failed(app, httpserver):
    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    app.config["VANI_RETRY_SCHEDULE"] = ""
    sub, _ = subscribe(httpserver.url_for("/bad"))
    emit()
    deliver()
    runner = app.test_cli_runner()
    r = runner.invoke(args=["vani", "deliveries", "retry-failed", "--since", "2999-01-01"])
    assert r.exit_code == 0 and "re-queued 0 failed deliveries" in r.output
    r = runner.invoke(args=["vani", "deliveries", "retry-failed", "--since", "not-a-date"])
    assert r.exit_code != 0 and "ISO-8601" in r.output
    r = runner.invoke(args=["vani", "deliveries", "retry-failed", "--subscription", str(sub.id)])
    assert r.exit_code == 0 and "re-queued 1 failed delivery" in r.output
    db.session.expire_all()
    assert db.session.query(WebhookDelivery).one().status == "pending"


def test_api_needs_the_token(client):
    r = client.get("/api/v1/webhooks/subscriptions")
    assert r.status_code == 401 and r.json["error"] == "unauthorized" and "data" not in r.json
    r = client.post("/api/v1/webhooks/deliveries", json={"event": "a.b", "payload": {}})
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    from vani.models import OutboundEvent

    assert db.session.query(OutboundEvent).count() == 0 and db.session.query(WebhookDelivery).count() == 0


def test_subscription_text_with_a_lone_surrogate_or_nul_is_stored_cleaned(api, db):
    """A description holding NUL or an unpaired surrogate is stored cleaned, on create and on
    update alike, never a 500."""
    from vani.models import WebhookSubscription

    created = api.post("/api/v1/webhooks/subscriptions", data='{"url": "https://crm.example.com/h", '
                       '"events": ["*"], "description": "a\\u0000b\\ud800"}', headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.get_json()
    sub_id = created.get_json()["id"]
    assert db.session.get(WebhookSubscription, sub_id).description == "ab\ufffd"
    patched = api.patch(f"/api/v1/webhooks/subscriptions/{sub_id}", data='{"description": "\\udfffz"}',
                        headers={"Content-Type": "application/json"})
    assert patched.status_code == 200, patched.get_json()
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sub_id).description == "\ufffdz"
