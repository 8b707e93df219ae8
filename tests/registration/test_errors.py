"""Provider API errors get clear messages; 429 is retried honouring Retry-After (no real sleeping)."""
from __future__ import annotations

import json

import pytest
from werkzeug import Response

from tests.clients import run
from vani.providers.calendly.registrar import CalendlyRegistrar
from vani.registration.http import ApiClient, ApiError


@pytest.fixture
def calendly(app, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="bad")
    return httpserver


def error(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")


@pytest.mark.parametrize("status,body,expected", [
    (401, {"title": "Unauthenticated", "message": "The access token is invalid"},
     ["refused the credentials (401 Unauthorized)", "check CALENDLY_API_TOKEN", "The access token is invalid"]),
    (403, {"title": "Permission Denied", "message": "Please upgrade your Calendly account to Standard"},
     ["denied the request (403 Forbidden)", "Please upgrade your Calendly account"]),
])
def test_auth_errors_are_explained(app, calendly, status, body, expected):
    calendly.expect_request("/users/me").respond_with_response(error(status, body))
    result = run(app, "register", "--url", "https://x.ngrok-free.app", "--provider", "calendly")
    assert result.exit_code == 1
    for text in expected:
        assert text in result.output


def test_422_shows_the_providers_details(app, calendly):
    base = calendly.url_for("").rstrip("/")
    calendly.expect_request("/users/me").respond_with_json(
        {"resource": {"uri": f"{base}/users/U", "current_organization": f"{base}/organizations/O"}})
    calendly.expect_request("/webhook_subscriptions", method="GET").respond_with_json(
        {"collection": [], "pagination": {}})
    calendly.expect_request("/webhook_subscriptions", method="POST").respond_with_response(error(422, {
        "title": "Invalid Argument", "message": "The supplied parameters are invalid.",
        "details": [{"parameter": "url", "message": "must be a valid https URL"}]}))
    result = run(app, "register", "--url", "https://x.ngrok-free.app", "--provider", "calendly")
    assert result.exit_code == 1
    assert "rejected the request (422)" in result.output
    assert "url: must be a valid https URL" in result.output


def test_429_is_retried_after_the_given_seconds(app, calendly):
    base = calendly.url_for("").rstrip("/")
    calendly.expect_ordered_request("/users/me").respond_with_response(
        error(429, {"title": "Too Many Requests"}, {"Retry-After": "7"}))
    calendly.expect_ordered_request("/users/me").respond_with_response(
        error(429, {"title": "Too Many Requests"}, {"X-RateLimit-Reset": "3"}))
    calendly.expect_ordered_request("/users/me").respond_with_json(
        {"resource": {"uri": f"{base}/users/U", "current_organization": f"{base}/organizations/O"}})
    slept: list[float] = []
    registrar = CalendlyRegistrar(app.config, sleep=slept.append)
    assert registrar.me["uri"] == f"{base}/users/U"
    assert slept == [7.0, 3.0]
    calendly.check_assertions()


def test_429_gives_up_with_when_to_try_again(app, httpserver):
    httpserver.expect_request("/thing").respond_with_response(
        error(429, {"message": "slow down"}, {"Retry-After": "2"}))
    slept: list[float] = []
    client = ApiClient("Calendly", httpserver.url_for(""), sleep=slept.append, max_retries=3)
    with pytest.raises(ApiError) as info:
        client.get("/thing")
    assert slept == [2.0, 2.0, 2.0]
    assert info.value.status == 429
    assert "rate limiting" in str(info.value) and "try again in 3 s" in str(info.value)
    assert len(httpserver.log) == 4


def test_429_with_a_long_wait_fails_at_once(app, httpserver):
    httpserver.expect_request("/thing").respond_with_response(error(429, {}, {"Retry-After": "3600"}))
    slept: list[float] = []
    with pytest.raises(ApiError, match="try again in 3601 s"):
        ApiClient("Calendly", httpserver.url_for(""), sleep=slept.append).get("/thing")
    assert slept == [] and len(httpserver.log) == 1


def test_server_errors_are_retried_then_reported(app, httpserver):
    httpserver.expect_ordered_request("/thing").respond_with_data("boom", status=502)
    httpserver.expect_ordered_request("/thing").respond_with_json({"ok": True})
    slept: list[float] = []
    assert ApiClient("X", httpserver.url_for(""), sleep=slept.append).get("/thing") == {"ok": True}
    assert slept == [1.0]


def test_unreachable_provider(app):
    client = ApiClient("Cal.com", "http://127.0.0.1:9", sleep=lambda s: None)
    with pytest.raises(ApiError, match="cannot reach Cal.com at http://127.0.0.1:9"):
        client.get("/v2/webhooks")


def test_missing_token_is_a_skip_or_a_failure_when_asked_for(app):
    app.config["CALENDLY_API_TOKEN"] = None
    everything = run(app, "register", "--url", "https://x.ngrok-free.app")
    assert "calendly: skipped - CALENDLY_API_TOKEN is not set" in everything.output
    assert everything.exit_code == 0
    asked = run(app, "register", "--url", "https://x.ngrok-free.app", "--provider", "calendly")
    assert asked.exit_code == 1


def test_no_public_url_says_how_to_get_one(app, monkeypatch):
    app.config.update(PUBLIC_URL="", VANI_NGROK_API_URL="http://127.0.0.1:9")
    result = run(app, "register")
    assert result.exit_code == 1
    assert "no public URL" in result.output and "ngrok http" in result.output
