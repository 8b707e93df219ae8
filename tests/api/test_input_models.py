"""The API reads its input with the models its OpenAPI document shows: which error answers when
several things are wrong, the lookups that come before a body's fields are checked, the query
parameters the Calendly sync takes, and the document saying what the API requires."""
from __future__ import annotations

from flask import Flask

from tests.outbound.helpers import subscribe

SUBS = "/api/v1/webhooks/subscriptions"


def answer(r) -> tuple[int, str | None, str | None]:
    body = r.get_json()
    return r.status_code, body.get("field"), body.get("detail")


def test_the_first_error_answers_in_the_order_they_are_checked(api, httpserver):
    url = httpserver.url_for("/hook")
    allowed = "description, events, filter, headers, ordered, rate_limit, secret, signature, url"
    assert answer(api.post(SUBS, json=[url])) == \
        (400, "body", "must be a JSON object (send Content-Type: application/json)")
    # unknown fields first (by name), then missing ones, then the fields in the order the service checks them
    assert answer(api.post(SUBS, json={"zz": 1, "aa": 1, "events": 5})) == \
        (400, "aa", f"unknown field; allowed: {allowed}")
    assert answer(api.post(SUBS, json={"url": 5})) == (400, "events", "is required")
    assert answer(api.post(SUBS, json={"url": url, "events": [], "rate_limit": 0})) == \
        (400, "events", 'must be "*" or a non-empty list of event types')
    assert answer(api.post(SUBS, json={"url": url, "events": ["*"], "rate_limit": 0, "headers": 1}))[1] == \
        "rate_limit"
    created = api.post(SUBS, json={"url": url, "events": ["*"], "description": "x" * 1000})
    assert created.status_code == 201 and created.json["description"] == "x" * 1000


def test_query_filters_answer_before_the_page(api):
    r = api.get("/api/v1/events?cursor=nonsense&provider=nowhere&limit=0")
    assert r.status_code == 400 and r.json["field"] == "provider"
    assert api.get("/api/v1/events?cursor=nonsense&limit=0").json["field"] == "limit"
    r = api.get("/api/v1/webhooks/deliveries?status=nope&subscription=x")
    assert answer(r) == (400, "subscription", "must be a whole number")
    r = api.get("/api/v1/conversations?assignee=&prospect_id=7")
    assert answer(r) == (400, "assignee", "a member id, or unassigned")


def test_a_change_looks_up_the_subscription_once_the_body_is_well_formed(api):
    assert answer(api.patch(f"{SUBS}/987654", json={"colour": "red"}))[:2] == (400, "colour")
    assert answer(api.patch(f"{SUBS}/987654", data=b"[]", content_type="application/json"))[:2] == (400, "body")
    refused = api.patch(f"{SUBS}/987654", json={"active": "yes", "filter": 3})
    assert refused.status_code == 404 and refused.json["error"] == "not_found"
    assert api.post(f"{SUBS}/987654/rotate-secret", json={"secret": "whsec_x"}).status_code == 404
    assert answer(api.post(f"{SUBS}/987654/rotate-secret", json={"other": 1})) == \
        (400, "body", 'send nothing, or {"secret": "whsec_…"}')


def test_a_masked_header_sent_back_keeps_the_stored_value(api, httpserver):
    sub, _ = subscribe(httpserver.url_for("/hook"), headers={"X-Api-Key": "k-123456789"})
    shown = api.get(f"{SUBS}/{sub.id}").json["headers"]["X-Api-Key"]
    assert shown != "k-123456789"
    r = api.patch(f"{SUBS}/{sub.id}", json={"headers": {"X-Api-Key": shown, "X-Other": "v"}, "paused": True})
    assert r.status_code == 200 and r.json["paused"] is True
    from vani.outbound import get_subscription

    assert get_subscription(sub.id).custom_headers == {"X-Api-Key": "k-123456789", "X-Other": "v"}


def test_a_bulk_retry_finds_the_subscription_before_it_checks_the_status(api):
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"status": "delivered", "subscription": 987654})
    assert r.status_code == 404 and r.json["error"] == "not_found"
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"since": "later", "subscription": 987654})
    assert answer(r) == (400, "since", "must be an ISO-8601 date-time")
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"subscription": True})
    assert answer(r) == (400, "subscription", "must be a subscription id (a number)")
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"status": None})
    assert answer(r) == (400, "status", "must be one of failed, cancelled")
    ok = api.post("/api/v1/webhooks/deliveries/retry", json={"status": "cancelled"})
    assert ok.status_code == 202 and ok.json == {"status": "cancelled", "requeued": 0}


def test_the_calendly_sync_reads_its_query_and_the_body_wins(app, api):
    app.config["CALENDLY_API_TOKEN"] = None  # a valid request answers 409 not_configured
    assert answer(api.post("/api/v1/calendly/sync?since=soon"))[:2] == (400, "since")
    assert api.post("/api/v1/calendly/sync?since=soon", json={"since": "2030-04-01"}).status_code == 409
    assert api.post("/api/v1/calendly/sync?since=2030-04-01", json={"since": 3}).json["field"] == "since"
    assert api.post("/api/v1/calendly/sync", json={"colour": "red", "wait": "yes"}).status_code == 409
    assert api.post("/api/v1/calendly/sync", data=b"[1]", content_type="application/json").status_code == 409


def test_the_document_requires_what_the_api_requires(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["SubscriptionIn"]["required"] == ["url", "events"]
    assert "required" not in schemas["SecretIn"] and "required" not in schemas["SubscriptionPatch"]
    assert schemas["BulkRetry"]["properties"]["status"]["enum"] == ["failed", "cancelled"]
    assert schemas["SubscriptionPatch"]["properties"]["active"] == {"type": "boolean", "title": "Active"}
    assert schemas["CustomEvent"]["properties"]["event"]["maxLength"] == 64
    sync = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/calendly/sync"]["post"]
    assert {p["name"]: p["schema"] for p in sync["parameters"] if p["in"] == "query"} == \
        {"since": {"type": "string"}, "wait": {"type": "boolean"}}


def test_a_view_reads_the_models_it_documents():
    """``request_body``/``request_query`` take the models from the view's ``documented``: a
    refusal names the documented field, in Vani's words."""
    from pydantic import Field

    from vani import errors
    from vani.api.openapi import documented
    from vani.api.openapi.parsing import Body, Query, request_body, request_query

    class Shape(Body):
        size: int = Field(ge=1)

    class Page(Query):
        size: int = Field(None, ge=1)

    app = Flask(__name__)
    errors.init_app(app)

    @app.post("/api/v1/shapes")
    @documented("Make a shape", "meta", {200: None}, body=Shape, query=Page)
    def shapes():
        return {"body": request_body().size, "query": request_query().size}

    client = app.test_client()
    assert client.post("/api/v1/shapes?size=3", json={"size": 2}).get_json() == {"body": 2, "query": 3}
    assert client.post("/api/v1/shapes", json={"size": 0}).get_json() == \
        {"error": "invalid_parameter", "field": "size", "detail": "Input should be greater than or equal to 1"}
    assert client.post("/api/v1/shapes", json={}).get_json()["detail"] == "is required"
    assert client.post("/api/v1/shapes", json={"size": 2, "b": 1, "a": 1}).get_json()["field"] == "a"
