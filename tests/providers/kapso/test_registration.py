"""Kapso registration: per phone number, X-API-Key, Vani's own secret_key."""
from __future__ import annotations

import json
import re

import pytest
from werkzeug import Response

from tests.clients import run
from vani.extensions import db
from vani.models import ProviderCredential
from vani.providers.registry import installed_providers

PHONE = "1234567890"
BASE = "https://dev-box.ngrok-free.app"

pytestmark = pytest.mark.skipif("kapso" not in installed_providers(), reason="the Kapso provider is not installed")


def json_response(data, status=200) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


@pytest.fixture
def fake(app, httpserver):
    app.config.update(KAPSO_API_BASE=httpserver.url_for("").rstrip("/"), KAPSO_API_KEY="kapso-key",
                      KAPSO_PHONE_NUMBER_ID=PHONE)
    hooks: dict[str, dict] = {}
    path = f"/platform/v1/whatsapp/phone_numbers/{PHONE}/webhooks"

    def create(request):
        spec = request.get_json()["whatsapp_webhook"]
        hook_id = f"wh-{len(hooks) + 1}"
        hooks[hook_id] = {"id": hook_id, "url": spec["url"], "events": spec["events"], "active": True,
                          "kind": "kapso", "secret_key": spec["secret_key"]}
        return json_response({"data": hooks[hook_id]}, 201)

    def delete(request):
        hooks.pop(request.path.rsplit("/", 1)[-1])
        return Response("", 204)

    httpserver.expect_request(path, method="GET").respond_with_handler(
        lambda r: json_response({"data": list(hooks.values()), "meta": {"page": 1, "per_page": 100,
                                                                        "total_pages": 1, "total_count": len(hooks)}}))
    httpserver.expect_request(path, method="POST").respond_with_handler(create)
    httpserver.expect_request(re.compile(rf"^{path}/[^/]+$"), method="DELETE").respond_with_handler(delete)
    return httpserver, hooks


def test_register_and_rerun(app, fake):
    server, hooks = fake
    route = "/api/webhooks/kapso"
    result = run(app, "register", "--url", BASE, "--provider", "kapso")
    assert result.exit_code == 0, result.output
    [post] = [r for r, _ in server.log if r.method == "POST"]
    spec = post.get_json()["whatsapp_webhook"]
    row = db.session.query(ProviderCredential).filter_by(provider="kapso").one()
    assert spec["url"] == BASE + route and spec["secret_key"] == row.value and spec["kind"] == "kapso"
    assert "whatsapp.message.received" in spec["events"]
    assert post.headers["X-API-Key"] == "kapso-key"
    again = run(app, "register", "--url", BASE, "--provider", "kapso")
    assert "up to date" in again.output and len(hooks) == 1


def test_needs_the_phone_number_id(app, fake):
    app.config["KAPSO_PHONE_NUMBER_ID"] = None
    result = run(app, "register", "--url", BASE, "--provider", "kapso")
    assert result.exit_code == 1 and "KAPSO_PHONE_NUMBER_ID is not set" in result.output


def test_a_base_url_with_the_api_prefix_registers_at_the_platform_path(app, fake):
    server, hooks = fake
    app.config["KAPSO_API_BASE"] = server.url_for("").rstrip("/") + "/api/v1"
    result = run(app, "register", "--url", BASE, "--provider", "kapso")
    assert result.exit_code == 0, result.output
    assert len(hooks) == 1
    assert {r.path for r, _ in server.log} == {f"/platform/v1/whatsapp/phone_numbers/{PHONE}/webhooks"}
