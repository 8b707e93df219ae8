"""A secret stored by `webhooks register` in another process is picked up at once, not after
the secrets cache expires."""
from __future__ import annotations

from tests.signing import calendly_headers, dumps
from vani.extensions import db
from vani.models import ProviderCredential


def _body() -> bytes:
    return dumps({"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
                  "payload": {"uri": "https://api.calendly.com/scheduled_events/E/invitees/I1",
                              "email": "a@example.com"}})


def test_newly_stored_secret_verifies_without_waiting_for_the_cache(app, client, monkeypatch):
    from vani.orgs import secrets

    monkeypatch.setattr(secrets, "_REFRESH_SECONDS", 0.0)  # no reload throttle inside one test
    body = _body()
    app.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = None
    db.session.add(ProviderCredential(provider="calendly", name="webhook_secret", value="old-key"))
    db.session.commit()
    assert client.post("/api/webhooks/calendly", data=body,
                       headers=calendly_headers(body, secret="old-key")).status_code == 200
    # Another process (the register command) replaces the stored key; this process has it cached.
    row = db.session.query(ProviderCredential).one()
    row.value = "new-key"
    db.session.commit()
    other = body.replace(b"I1", b"I2")
    response = client.post("/api/webhooks/calendly", data=other,
                           headers=calendly_headers(other, secret="new-key"))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "accepted"


def test_wrong_secret_is_still_refused(app, client):
    body = _body()
    response = client.post("/api/webhooks/calendly", data=body, headers=calendly_headers(body, secret="nope"))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"
