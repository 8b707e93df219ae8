"""`flask vani webhooks register|status` against a fake Calendly API on loopback."""
from __future__ import annotations

import pytest

from tests.clients import run
from tests.fakes.calendly import EVENTS, USER_EVENTS, FakeCalendly
from vani.models import ProviderCredential
from vani.providers.calendly.registrar import CalendlyRegistrar
from vani.registration.registrars import register

TARGET_BASE = "https://new-tunnel.ngrok-free.app"
TARGET = TARGET_BASE + "/api/webhooks/calendly"


@pytest.fixture
def fake(app, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="cal-token")
    return FakeCalendly(httpserver)


def stored():
    from vani.extensions import db

    return db.session.query(ProviderCredential).filter_by(provider="calendly", name="webhook_secret").one_or_none()


def test_register_creates_subscription_with_stored_key_and_replaces_only_vanis_stale_one(app, fake, db):
    foreign = fake.add("https://hooks.zapier.example.com/catch/1")
    stale = fake.add("https://old-tunnel.ngrok-free.app/api/webhooks/calendly")
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output

    posts = fake.calls("POST")
    assert len(posts) == 1
    _, path, _, body = posts[0]
    assert path == "/webhook_subscriptions"
    key = body.pop("signing_key")
    assert body == {"url": TARGET, "events": EVENTS, "organization": fake.org, "scope": "organization"}
    assert len(key) == 64
    row = stored()
    assert (row.value, row.callback_url) == (key, TARGET)
    assert row.external_id in fake.subs and fake.subs[row.external_id]["callback_url"] == TARGET
    # The stale tunnel subscription went (after the new one existed); the foreign one stayed.
    assert [c[1] for c in fake.calls("DELETE")] == [f"/webhook_subscriptions/{stale.rsplit('/', 1)[-1]}"]
    methods = [c[0] for c in fake.calls() if c[0] != "GET"]
    assert methods == ["POST", "DELETE"]
    assert foreign in fake.subs and stale not in fake.subs
    assert "left alone" in result.output
    # The request carried the token.
    assert all(r.headers["Authorization"] == "Bearer cal-token" for r, _ in fake.server.log)


def test_second_run_changes_nothing(app, fake):
    assert run(app, "register", "--url", TARGET_BASE).exit_code == 0
    key = stored().value
    before = len(fake.server.log)
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert [c[0] for c in fake.calls()[before:]] == ["GET", "GET"]  # /users/me and the list only
    assert stored().value == key and len(fake.subs) == 1


def test_new_tunnel_url_reuses_the_key_and_removes_the_old_subscription(app, fake):
    assert run(app, "register", "--url", "https://first.ngrok-free.app").exit_code == 0
    first = stored()
    first_id, key = first.external_id, first.value
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    assert list(fake.subs) == [stored().external_id] and stored().external_id != first_id
    assert fake.subs[stored().external_id]["callback_url"] == TARGET
    assert fake.calls("POST")[-1][3]["signing_key"] == key == stored().value


def test_subscription_at_target_with_unknown_key_is_replaced_first(app, fake):
    old = fake.add(TARGET)  # made by hand: Vani does not know its key
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    methods = [c[0] for c in fake.calls() if c[0] != "GET"]
    assert methods == ["DELETE", "POST"]  # Calendly refuses a second hook at the same URL
    assert old not in fake.subs and stored().external_id in fake.subs


def test_user_scope_when_the_token_is_not_an_admin(app, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="t")
    fake = FakeCalendly(httpserver, admin=False)
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    lists = [c[2] for c in fake.calls("GET") if c[1] == "/webhook_subscriptions"]
    assert lists[0]["scope"] == "organization" and lists[-1] == {
        "organization": fake.org, "scope": "user", "user": fake.user, "count": "100"}
    body = fake.calls("POST")[0][3]
    assert body["scope"] == "user" and body["user"] == fake.user and body["events"] == USER_EVENTS
    # A second run finds the user-scoped subscription complete for its scope.
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0 and "up to date" in result.output, result.output
    assert len(fake.calls("POST")) == 1 and fake.calls("DELETE") == []


def test_subscription_without_routing_forms_is_replaced(app, fake):
    assert run(app, "register", "--url", TARGET_BASE).exit_code == 0
    [sub] = fake.subs.values()
    sub["events"] = list(USER_EVENTS)  # made before Vani handled routing form submissions
    result = run(app, "register", "--url", TARGET_BASE, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    [sub] = fake.subs.values()
    assert sub["events"] == EVENTS and stored().external_id == sub["uri"]


def test_dry_run_changes_nothing(app, fake):
    fake.add("https://old-tunnel.ngrok-free.app/api/webhooks/calendly")
    result = run(app, "register", "--url", TARGET_BASE, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would create Calendly subscription" in result.output
    assert "would delete Calendly subscription" in result.output
    assert fake.calls("POST") == [] and fake.calls("DELETE") == [] and stored() is None


def test_status_marks_vanis_subscription(app, fake):
    fake.add("https://hooks.zapier.example.com/catch/1")
    assert run(app, "register", "--url", TARGET_BASE).exit_code == 0
    app.config["PUBLIC_URL"] = TARGET_BASE
    result = run(app, "status", "--provider", "calendly")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if TARGET in line and "->" in line and "[" in line)
    assert "[Vani's, current URL]" in line
    assert "hooks.zapier.example.com/catch/1" in result.output


def test_direct_register_returns_steps(app, fake):
    registrar = CalendlyRegistrar(app.config, sleep=lambda s: None)
    steps = register(registrar, TARGET_BASE, "development", echo=lambda s: None)
    assert [s.verb for s in steps] == ["create", "stored"]
