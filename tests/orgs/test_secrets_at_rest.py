"""Secrets at rest: a database populated through the API and the CLI is dumped (pg_dump on
PostgreSQL, the SQLite dump elsewhere) and holds none of the secrets or tokens Vani was given;
rotating the encryption key re-encrypts them all; a migration encrypts what older versions left."""
from __future__ import annotations

import base64
import shutil
import sqlite3
import subprocess

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url, select, text

from vani.extensions import db
from vani.models import ProviderCredential, WebhookSubscription


def dump(app) -> str:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        if not shutil.which("pg_dump"):
            pytest.skip("pg_dump is not installed")
        db.session.commit()
        result = subprocess.run(["pg_dump", "--data-only", url.set(drivername="postgresql").render_as_string(
            hide_password=False)], capture_output=True, text=True, check=True)
        return result.stdout
    db.session.commit()
    with sqlite3.connect(url.database) as conn:
        return "\n".join(conn.iterdump())


def forms(secret: str) -> list[str]:
    """The secret and the parts of it an attacker could use (a whsec_ key's base64 core)."""
    out = [secret]
    if secret.startswith("whsec_"):
        core = secret[len("whsec_"):]
        out += [core, base64.b64decode(core).hex()]
    return out


def test_a_dump_holds_no_secret_or_token(app, client, api, httpserver):
    runner = app.test_cli_runner()
    known: list[str] = []
    created = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/hook"), "events": "*"})
    sub_id = created.json["id"]
    known.append(created.json["secret"])
    rotated = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/rotate-secret")
    known.append(rotated.json["secret"])  # the first one is now the previous secret, still kept
    out = runner.invoke(args=["vani", "create-token", "dump-test", "--scope", "admin"]).output
    known.append(out.strip().splitlines()[-1])
    for provider, secret in (("calendly", "calendly-signing-key-1234"), ("cal_com", "cal-com-secret-5678")):
        assert runner.invoke(args=["vani", "webhooks", "set-secret", provider, secret]).exit_code == 0
        known.append(secret)
    assert runner.invoke(args=["vani", "webhooks", "set-secret", "calendly", "calendly-rotated-9999"]).exit_code == 0
    known.append("calendly-rotated-9999")
    assert runner.invoke(args=["vani", "create-user", "owner@example.com", "--password", "Correct-Horse-77"]).exit_code == 0
    known.append("Correct-Horse-77")
    # They all work, so they really are stored ...
    sub = db.session.get(WebhookSubscription, sub_id)
    assert sub.secret == known[1] and sub.previous_secret == known[0]
    assert api.get("/api/v1/events").status_code == 200
    # ... yet none of them, in any usable form, is in the dump.
    text_dump = dump(app)
    assert "webhook_subscriptions" in text_dump or "INSERT INTO" in text_dump
    leaks = [form for secret in known for form in forms(secret) if form in text_dump]
    assert leaks == []


def test_rotating_the_encryption_key_re_encrypts_every_stored_secret(app, api, httpserver):
    created = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/hook"), "events": "*"})
    secret = created.json["secret"]
    db.session.add(ProviderCredential(provider="kapso", name="webhook_secret", value="kapso-key-abcdef"))
    db.session.commit()
    old = app.config["VANI_ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    app.config["VANI_ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["vani", "rotate-encryption-key"])
    assert result.exit_code == 0 and "webhook_subscriptions.secret: 1 re-encrypted" in result.output
    assert "provider_credentials.value: 1 re-encrypted" in result.output
    app.config["VANI_ENCRYPTION_KEYS"] = new  # the old key is gone: everything still reads
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, created.json["id"]).secret == secret
    assert db.session.execute(select(ProviderCredential.value)).scalar_one() == "kapso-key-abcdef"
    app.config["VANI_ENCRYPTION_KEYS"] = old  # and the old key alone reads nothing any more
    db.session.expire_all()
    from vani.crypto import SecretUnreadable

    with pytest.raises(SecretUnreadable):
        db.session.get(WebhookSubscription, created.json["id"]).secret
    db.session.rollback()
    app.config["VANI_ENCRYPTION_KEYS"] = new


def test_a_previous_subscription_secret_is_forgotten_when_its_window_ends(app, api, httpserver):
    from datetime import timedelta

    from vani.jobs.maintenance import forget_expired_secrets
    from vani.models.base import utcnow

    created = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/hook"), "events": "*"})
    api.post(f"/api/v1/webhooks/subscriptions/{created.json['id']}/rotate-secret")
    assert forget_expired_secrets() == 0  # the window is still open
    sub = db.session.get(WebhookSubscription, created.json["id"])
    sub.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert forget_expired_secrets() == 1
    raw = db.session.execute(text("SELECT previous_secret FROM webhook_subscriptions")).scalar_one()
    assert raw is None
