"""`flask vani check-config`: non-zero on anything unsafe for production, zero when all is set."""
from __future__ import annotations

import pytest

from vani.commands.config_check import check
from vani.models import ProviderCredential
from vani.providers.registry import all_providers

GOOD = {
    "ENV_NAME": "production",
    "SECRET_KEY": "x" * 48,
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://vani@db/vani",
    "DEBUG": False,
    "VANI_ALLOW_PRIVATE_TARGETS": False,
    "PUBLIC_URL": "https://vani.example.com",
    "VANI_TRUST_PROXY": True,
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/x",
}


@pytest.fixture
def production(app, monkeypatch):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app.config.update(GOOD)
    for provider in all_providers():
        for name in provider.secret_settings:
            app.config[name] = f"secret-for-{name}"
    return app


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["vani", "check-config", *args])


def test_a_good_production_config_passes(production):
    result = invoke(production)
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output


@pytest.mark.parametrize("change,expected", [
    ({"ENV_NAME": "development"}, "VANI_ENV is 'development'"),
    ({"SECRET_KEY": "dev-insecure-secret-key"}, "SECRET_KEY is the built-in default"),
    ({"SECRET_KEY": "short"}, "shorter than 32 characters"),
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:////srv/vani.db"}, "the database is SQLite"),
    ({"DEBUG": True}, "debug mode is on"),
    ({"VANI_ALLOW_PRIVATE_TARGETS": True}, "VANI_ALLOW_PRIVATE_TARGETS is on"),
    ({"CAL_COM_WEBHOOK_SECRET": None}, "Cal.com: no webhook secret"),
])
def test_each_problem_fails_the_check(production, change, expected):
    production.config.update(change)
    result = invoke(production)
    assert result.exit_code == 1
    assert expected in result.output
    assert "1 error(s)" in result.output


def test_debug_from_the_environment(production, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert "debug mode is on" in invoke(production).output


def test_secret_registered_by_vani_counts(production, db):
    production.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = None
    assert invoke(production).exit_code == 1
    db.session.add(ProviderCredential(provider="calendly", name="webhook_secret", value="k" * 64))
    db.session.commit()
    assert invoke(production).exit_code == 0


def test_skip_a_provider_you_do_not_use(production):
    production.config["CAL_COM_WEBHOOK_SECRET"] = None
    assert invoke(production).exit_code == 1
    assert invoke(production, "--skip", "cal-com").exit_code == 0


def test_warnings_do_not_fail(production):
    production.config.update(PUBLIC_URL="", VANI_TRUST_PROXY=False, SLACK_WEBHOOK_URL=None)
    result = invoke(production)
    assert result.exit_code == 0
    assert "3 warning(s)" in result.output and "PUBLIC_URL is unset" in result.output


def test_check_function_lists_findings(production):
    findings = check({**production.config, "ENV_NAME": "development", "DEBUG": True}, set())
    assert [f.level for f in findings].count("error") == 2


def test_missing_secret_says_what_to_do(production):
    production.config.update(CAL_COM_WEBHOOK_SECRET=None, TWILIO_AUTH_TOKEN=None)
    output = invoke(production).output
    assert ("Cal.com: no webhook secret (CAL_COM_WEBHOOK_SECRET unset and none registered by Vani); its webhooks "
            "would be refused. Set CAL_COM_WEBHOOK_SECRET (or run `flask --app run vani webhooks register`), "
            "or pass --skip cal-com") in output
    # Vani cannot register at Twilio, so it does not suggest it.
    twilio = next(line for line in output.splitlines() if "TWILIO_AUTH_TOKEN" in line)
    assert "webhooks register" not in twilio and "--skip twilio" in twilio
