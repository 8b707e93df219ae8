"""The settings the tests run Vani with: provider secrets, and a production environment."""
from __future__ import annotations

SECRETS = {
    "CALENDLY_WEBHOOK_SIGNING_KEY": "calendly-test-signing-key",
    "CAL_COM_WEBHOOK_SECRET": "cal-com-test-secret",
    "KAPSO_WEBHOOK_SECRET": "kapso-test-secret",
    "TWILIO_AUTH_TOKEN": "twilio-test-auth-token",
}


def production_env(monkeypatch, **settings):
    from cryptography.fernet import Fernet

    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    base = {"VANI_ENV": "production", "SECRET_KEY": "s" * 48, "VANI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": "postgresql://vani@db.invalid/vani", "VANI_ALLOW_PRIVATE_TARGETS": "0"}
    for key, value in {**base, **settings}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
