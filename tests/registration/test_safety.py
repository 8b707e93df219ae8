"""Environment safety of `flask vani webhooks register`: refusals, --force, and what counts as Vani's."""
from __future__ import annotations

import pytest

from tests.clients import run
from tests.fakes.calendly import FakeCalendly
from vani.registration.base import Remote, check_target, is_ours
from vani.tunnel import host_kind


@pytest.fixture
def fake(app, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="cal-token")
    return FakeCalendly(httpserver)


@pytest.mark.parametrize("url,kind", [
    ("http://127.0.0.1:8000", "local"), ("http://localhost:8000", "local"), ("http://10.1.2.3", "local"),
    ("http://vani.localhost", "local"), ("https://abc123.ngrok-free.app", "tunnel"),
    ("https://x.trycloudflare.com", "tunnel"), ("https://vani.example.com", "public"), ("https://8.8.8.8", "public"),
])
def test_host_kind(url, kind):
    assert host_kind(url) == kind


def test_extra_tunnel_domains_count_as_tunnels():
    assert host_kind("https://me.tunnel.example.net", ("tunnel.example.net",)) == "tunnel"
    assert check_target("https://me.tunnel.example.net/x", "development", "tunnel.example.net") is None


def test_check_target_rules():
    assert check_target("https://a.ngrok-free.app/x", "development") is None
    assert check_target("https://vani.example.com/x", "production") is None
    assert "production credentials" in check_target("https://a.ngrok-free.app/x", "production")
    assert "production credentials" in check_target("http://127.0.0.1:8000/x", "production")
    assert "local address" in check_target("http://127.0.0.1:8000/x", "development")
    assert "may be production's URL" in check_target("https://vani.example.com/x", "development")
    assert "not an http(s) URL" in check_target("ftp://vani.example.com/x", "production")


def test_development_refuses_a_production_url_unless_forced(app, fake):
    result = run(app, "register", "--url", "https://vani.example.com", "--provider", "calendly")
    assert result.exit_code == 1
    assert "refuse" in result.output and "may be production's URL" in result.output
    assert fake.server.log == []  # not even a list call
    forced = run(app, "register", "--url", "https://vani.example.com", "--provider", "calendly", "--force")
    assert forced.exit_code == 0, forced.output
    assert "overridden by --force" in forced.output
    assert fake.calls("POST")[0][3]["url"] == "https://vani.example.com/api/webhooks/calendly"


def test_production_refuses_a_tunnel_or_localhost(app, fake):
    app.config["ENV_NAME"] = "production"
    for url in ("https://abc.ngrok-free.app", "http://localhost:8000"):
        result = run(app, "register", "--url", url, "--provider", "calendly")
        assert result.exit_code == 1, result.output
        assert "refusing to point production credentials" in result.output
    assert fake.calls("POST") == []


def test_production_never_takes_tunnel_subscriptions_as_its_own(app, fake):
    app.config["ENV_NAME"] = "production"
    dev = fake.add("https://dev-laptop.ngrok-free.app/api/webhooks/calendly")
    result = run(app, "register", "--url", "https://vani.example.com", "--provider", "calendly")
    assert result.exit_code == 0, result.output
    assert dev in fake.subs and fake.calls("DELETE") == []


def test_is_ours():
    routes = ("/api/webhooks/calendly", "/api/v1/calendly/webhook")
    target = "https://new.ngrok-free.app/api/webhooks/calendly"

    class Stored:
        external_id, callback_url, value = "SUB9", "https://gone.example.net/api/webhooks/calendly", "k"

    def ours(url, id_="X", env="development", stored=None):
        return is_ours(Remote(id_, url), target, stored, routes, env)

    assert ours(target)
    assert ours("https://old.ngrok-free.app/api/v1/calendly/webhook")
    assert not ours("https://old.ngrok-free.app/other/path")
    assert not ours("https://vani.example.com/api/webhooks/calendly")  # someone's production
    assert not ours("https://old.ngrok-free.app/api/webhooks/calendly", env="production")
    assert ours("https://anything.example.org/hook", id_="SUB9", stored=Stored)
    assert ours(Stored.callback_url, stored=Stored, env="production")
