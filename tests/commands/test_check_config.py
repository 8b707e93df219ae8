"""`flask vani check-config`: non-zero on anything unsafe for production, zero when all is set."""
from __future__ import annotations

import pytest

from tests.settings import production_env
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
    "VANI_ENCRYPTION_KEYS": "dGVzdGluZy1rZXktbm90LWZvci1wcm9kdWN0aW9uISE=",
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
    ({"SECRET_KEY": "dev-insecure-secret-key"}, "SECRET_KEY is missing, the built-in default"),
    ({"SECRET_KEY": None}, "SECRET_KEY is missing"),
    ({"VANI_ENCRYPTION_KEYS": None}, "VANI_ENCRYPTION_KEYS is not set"),
    ({"VANI_ENCRYPTION_KEYS": "not-a-key"}, "key 1 of VANI_ENCRYPTION_KEYS is not a Fernet key"),
    ({"VANI_RETRY_SCHEDULE": "5s,soon"}, "VANI_RETRY_SCHEDULE: cannot read 'soon'"),
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


# -- at start-up -----------------------------------------------------------------------------
def test_production_starts_only_when_safe(monkeypatch):
    from vani import create_app
    from vani.config_checks import UnsafeConfig

    production_env(monkeypatch)
    assert create_app().config["ENV_NAME"] == "production"  # safe: it starts
    for unsafe, message in (({"SECRET_KEY": None}, "SECRET_KEY is missing"),
                            ({"SECRET_KEY": "dev-insecure-secret-key"}, "the built-in default"),
                            ({"SECRET_KEY": "too-short"}, "shorter than 32"),
                            ({"VANI_ENCRYPTION_KEYS": None}, "VANI_ENCRYPTION_KEYS is not set"),
                            ({"VANI_ALLOW_PRIVATE_TARGETS": "1"}, "VANI_ALLOW_PRIVATE_TARGETS is on")):
        production_env(monkeypatch, **unsafe)
        with pytest.raises(UnsafeConfig, match=message):
            create_app()


def test_an_unset_vani_env_means_production(monkeypatch):
    from vani import create_app

    production_env(monkeypatch, VANI_ENV=None)
    app = create_app()
    assert app.config["ENV_NAME"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] and not app.config["VANI_ALLOW_PRIVATE_TARGETS"]


def test_flask_run_means_development(monkeypatch):
    import click

    from config import Config

    monkeypatch.delenv("VANI_ENV", raising=False)
    monkeypatch.setenv("VANI_ENCRYPTION_KEYS", "x")  # development would otherwise write a key file
    with click.Context(click.Command("run"), info_name="run"):
        assert Config.from_env().ENV_NAME == "development"
    with click.Context(click.Command("worker"), info_name="worker"):
        assert Config.from_env().ENV_NAME == "production"


def test_elsewhere_unsafe_settings_are_logged_as_warnings(monkeypatch, caplog):
    from vani import create_app

    production_env(monkeypatch, VANI_ENV="development", SECRET_KEY=None)
    with caplog.at_level("WARNING", logger="vani.safety"):
        create_app()
    assert "unsafe for production: SECRET_KEY is missing" in caplog.text


def test_development_generates_its_encryption_key_once_and_keeps_it_private(tmp_path):
    import stat

    from cryptography.fernet import Fernet

    from vani.crypto import development_keys

    key = development_keys(tmp_path / "instance")
    Fernet(key)  # a real key
    path = tmp_path / "instance" / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert development_keys(tmp_path / "instance") == key  # the same one next time


def test_gmail_pushes_checked_by_oidc_need_no_shared_token(production):
    config = {**production.config, "GMAIL_PUSH_TOKEN": None}
    assert any(f.level == "error" and "GMAIL_PUSH_TOKEN" in f.message for f in check(config, set()))
    findings = check({**config, "GMAIL_PUSH_AUDIENCE": "https://vani.example.com/api/webhooks/gmail"}, set())
    assert not any("GMAIL_PUSH_TOKEN" in f.message for f in findings)
    assert any(f.level == "ok" and "OIDC" in f.message for f in findings)
