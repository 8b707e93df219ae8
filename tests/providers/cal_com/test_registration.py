"""Cal.com registration: API v2 with a Bearer key, v1 (?apiKey=) when v2 is not there."""
from __future__ import annotations

import json
import re

import pytest
from werkzeug import Response

from tests.clients import run
from vani.extensions import db
from vani.models import ProviderCredential

BASE = "https://dev-box.ngrok-free.app"
TARGET = BASE + "/api/webhooks/cal-com"
TRIGGERS = ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED", "BOOKING_REQUESTED", "BOOKING_REJECTED",
            "BOOKING_PAID", "BOOKING_NO_SHOW_UPDATED", "MEETING_STARTED", "MEETING_ENDED",
            "BOOKING_PAYMENT_INITIATED", "FORM_SUBMITTED", "FORM_SUBMITTED_NO_EVENT", "RECORDING_READY",
            "RECORDING_TRANSCRIPTION_GENERATED", "AFTER_HOSTS_CAL_VIDEO_NO_SHOW", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"]


def json_response(data, status=200) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


class FakeCalCom:
    def __init__(self, server, v2: bool = True):
        self.server, self.hooks, self.next_id = server, {}, 100
        if v2:
            server.expect_request("/v2/webhooks", method="GET").respond_with_handler(
                lambda r: json_response({"status": "success", "data": list(self.hooks.values())}))
            server.expect_request("/v2/webhooks", method="POST").respond_with_handler(self.create_v2)
            server.expect_request(re.compile(r"^/v2/webhooks/\d+$"), method="DELETE").respond_with_handler(self.delete)
        else:
            server.expect_request("/v2/webhooks").respond_with_response(json_response({"message": "Not Found"}, 404))
            server.expect_request("/v1/webhooks", method="GET").respond_with_handler(
                lambda r: json_response({"webhooks": list(self.hooks.values())}))
            server.expect_request("/v1/webhooks", method="POST").respond_with_handler(self.create_v1)
            server.expect_request(re.compile(r"^/v1/webhooks/\d+$"), method="DELETE").respond_with_handler(self.delete)

    def add(self, url: str, key: str = "triggers") -> int:
        self.next_id += 1
        self.hooks[self.next_id] = {"id": self.next_id, "subscriberUrl": url, key: TRIGGERS, "active": True,
                                    "payloadTemplate": None}
        return self.next_id

    def create_v2(self, request):
        body = request.get_json()
        hook_id = self.add(body["subscriberUrl"])
        return json_response({"status": "success", "data": {**self.hooks[hook_id], "secret": body["secret"]}}, 201)

    def create_v1(self, request):
        body = request.get_json()
        hook_id = self.add(body["subscriberUrl"], "eventTriggers")
        return json_response({"webhook": self.hooks[hook_id]})

    def delete(self, request):
        self.hooks.pop(int(request.path.rsplit("/", 1)[-1]))
        return json_response({"status": "success"})

    def writes(self):
        return [(r.method, r.path, dict(r.args), r.get_json(silent=True)) for r, _ in self.server.log
                if r.method != "GET"]


@pytest.fixture
def configure(app, httpserver):
    app.config.update(CAL_COM_API_BASE=httpserver.url_for("").rstrip("/"), CAL_COM_API_KEY="cal_live_abc")
    return httpserver


def stored():
    return db.session.query(ProviderCredential).filter_by(provider="cal_com").one_or_none()


def test_v2_register_then_idempotent(app, configure):
    fake = FakeCalCom(configure)
    foreign = fake.add("https://n8n.example.org/webhook/cal")
    stale = fake.add("https://yesterday.ngrok-free.app/api/webhooks/cal-com")
    result = run(app, "register", "--url", BASE, "--provider", "cal-com")
    assert result.exit_code == 0, result.output
    (post, path, query, body), (delete, del_path, _, _) = fake.writes()
    assert (post, path, query) == ("POST", "/v2/webhooks", {})
    secret = body.pop("secret")
    assert body == {"subscriberUrl": TARGET, "triggers": TRIGGERS, "active": True}
    assert (delete, del_path) == ("DELETE", f"/v2/webhooks/{stale}")
    assert foreign in fake.hooks
    assert stored().value == secret and stored().callback_url == TARGET
    lists = [r for r, _ in configure.log if r.method == "GET"]
    assert lists[0].args.to_dict() == {"take": "250", "skip": "0"}
    assert all(r.headers["Authorization"] == "Bearer cal_live_abc" for r, _ in configure.log)

    again = run(app, "register", "--url", BASE, "--provider", "cal_com")
    assert again.exit_code == 0 and "up to date" in again.output
    assert len(fake.writes()) == 2


def test_v1_fallback(app, configure):
    fake = FakeCalCom(configure, v2=False)
    result = run(app, "register", "--url", BASE, "--provider", "cal-com")
    assert result.exit_code == 0, result.output
    [(method, path, query, body)] = fake.writes()
    assert (method, path, query) == ("POST", "/v1/webhooks", {"apiKey": "cal_live_abc"})
    secret = body.pop("secret")
    assert body == {"subscriberUrl": TARGET, "eventTriggers": TRIGGERS, "active": True}
    assert stored().value == secret and stored().external_id == str(next(iter(fake.hooks)))
    again = run(app, "register", "--url", BASE, "--provider", "cal-com")
    assert "up to date" in again.output and len(fake.writes()) == 1


def test_bad_key_on_both_versions(app, configure):
    configure.expect_request("/v2/webhooks").respond_with_response(json_response({"error": "Invalid API key"}, 401))
    configure.expect_request("/v1/webhooks").respond_with_response(json_response({"message": "Your API key is not valid."}, 401))
    result = run(app, "register", "--url", BASE, "--provider", "cal-com")
    assert result.exit_code == 1
    assert "refused the credentials (401 Unauthorized): check CAL_COM_API_KEY" in result.output
    assert "API v1" in result.output
