"""Kapso's base URL in every form its guides give resolves to the one Meta-style send path, for
sends, webhook registration and what ``flask vani check-config`` shows."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conversations.helpers import (
    KAPSO_KEY,
    KAPSO_PATH,
    NUMBER_ID,
    conversation,
    meta_ok,
    outbound,
    process,
    receive_kapso,
    send_lane,
)
from vani.models import OutboundEvent
from vani.providers.kapso.api_base import send_url

SEND = f"https://api.kapso.ai/meta/whatsapp/v24.0/{NUMBER_ID}/messages"


@pytest.mark.parametrize("base", [
    "https://app.kapso.ai/api/v1",  # the value the Kapso guide gives
    "https://app.kapso.ai/api/v1/",
    "https://app.kapso.ai",
    "https://api.kapso.ai",
    "https://api.kapso.ai/",
    "https://api.kapso.ai/api/v1",
    "https://api.kapso.ai/meta/whatsapp",
    "https://api.kapso.ai/meta/whatsapp/v24.0",
    "https://api.kapso.ai/platform/v1",
    None,
])
def test_every_documented_base_url_sends_to_the_meta_path(base):
    assert send_url({"KAPSO_API_BASE_URL": base}, NUMBER_ID) == SEND


def test_the_older_setting_name_resolves_the_same_way():
    assert send_url({"KAPSO_API_BASE": "https://app.kapso.ai/api/v1"}, NUMBER_ID) == SEND


def test_another_host_keeps_its_own_path():
    cfg = {"KAPSO_API_BASE_URL": "https://proxy.example.com/kapso/api/v1"}
    assert send_url(cfg, NUMBER_ID) == f"https://proxy.example.com/kapso/meta/whatsapp/v24.0/{NUMBER_ID}/messages"


@pytest.mark.parametrize("suffix", ["/api/v1", "/meta/whatsapp", ""])
def test_a_reply_goes_to_the_meta_path_whatever_the_suffix(app, client, api, db, httpserver, suffix):
    app.config.update(KAPSO_API_BASE_URL=httpserver.url_for("").rstrip("/") + suffix, KAPSO_API_KEY=KAPSO_KEY)
    receive_kapso(client, "hola", "wamid.in1")
    process()
    conv = conversation(db)
    httpserver.expect_oneshot_request(KAPSO_PATH, method="POST", headers={"X-API-Key": KAPSO_KEY}
                                      ).respond_with_json(meta_ok("wamid.out1"))
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": "Hi there"},
                 headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 202, r.json
    assert send_lane() == 1
    httpserver.check_assertions()
    assert [request.path for request, _ in httpserver.log] == [KAPSO_PATH]
    (msg,) = outbound(db)
    assert (msg.status, msg.provider_message_id) == ("sent", "wamid.out1")
    assert db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "message.sent")).scalar_one()


def test_check_config_shows_the_resolved_send_url(app):
    app.config.update(KAPSO_API_BASE_URL="https://app.kapso.ai/api/v1", KAPSO_PHONE_NUMBER_ID=NUMBER_ID)
    output = app.test_cli_runner().invoke(args=["vani", "check-config"]).output
    assert f"replies are sent to POST {SEND} with X-API-Key" in output
    assert "KAPSO_API_BASE_URL: https://app.kapso.ai/api/v1" in output


def test_check_config_names_the_phone_number_placeholder_when_unset(app):
    app.config.update(KAPSO_API_BASE_URL="https://api.kapso.ai/meta/whatsapp", KAPSO_PHONE_NUMBER_ID=None)
    output = app.test_cli_runner().invoke(args=["vani", "check-config", "--skip", "cal-com"]).output
    assert "POST https://api.kapso.ai/meta/whatsapp/v24.0/{phone_number_id}/messages" in output
    skipped = app.test_cli_runner().invoke(args=["vani", "check-config", "--skip", "kapso"]).output
    assert "replies are sent to" not in skipped
