"""Gmail pushes authenticated by Pub/Sub's OIDC token: a JWT signed with a key whose certificate
the fake Google serves, checked for signature, expiry, audience, issuer and service account;
certificates kept for their max-age; the shared token still works beside it."""
from __future__ import annotations

import base64
import json
import time

import pytest
from sqlalchemy import func, select

from tests.fakes.google_oidc import AUDIENCE, CERTIFICATE, KID, SERVICE_ACCOUNT, claims, key_and_certificate, sign
from tests.fakes.google import ADDRESS, fake_google, json_response, push
from vani.extensions import db
from vani.models import RejectedCall, WebhookEvent
from vani.providers.gmail.oidc import max_age

OTHER_KEY, _ = key_and_certificate()


def unsigned(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{part(payload)}."


@pytest.fixture
def google(app, httpserver, monkeypatch):
    yield from fake_google(app, httpserver, monkeypatch)


@pytest.fixture
def oidc(google, app):
    google.certs = {KID: CERTIFICATE}
    app.config.update(GMAIL_PUSH_AUDIENCE=AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT=SERVICE_ACCOUNT, GMAIL_PUSH_TOKEN=None,
                      GMAIL_PUSH_TOKEN_PREVIOUS=None)
    return google


def send(client, token: str | None = None, url: str = "/api/webhooks/gmail", n: int = 1):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(url, data=push(ADDRESS, 700 + n, f"oidc-{n}"), content_type="application/json",
                       headers=headers)


def stored() -> list[WebhookEvent]:
    return db.session.execute(select(WebhookEvent)).scalars().all()


def test_a_valid_token_is_accepted_without_a_shared_token(oidc, client):
    r = send(client, sign(claims()))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json == {"status": "accepted", "event_id": r.json["event_id"]}  # no "unverified" warning
    [event] = stored()
    assert event.verified and event.event_type == "gmail.mailbox.changed"
    assert [r.path for r, _ in oidc.server.log] == ["/oauth2/v1/certs"]


@pytest.mark.parametrize("token, why", [
    pytest.param(lambda: sign(claims(aud="https://elsewhere.example.com/push")), "wrong audience",
                 id="wrong audience"),
    pytest.param(lambda: sign(claims(email="someone@attacker.iam.gserviceaccount.com")),
                 "not for GMAIL_PUSH_SERVICE_ACCOUNT", id="wrong email"),
    pytest.param(lambda: sign(claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)), "Token expired",
                 id="expired"),
    pytest.param(lambda: sign(claims(), key=OTHER_KEY), "Could not verify token signature", id="another key"),
    pytest.param(lambda: sign(claims(), key=OTHER_KEY, kid="unknown-kid"), "key id unknown-kid not found",
                 id="unknown key id"),
    pytest.param(lambda: unsigned(claims()), "Unsupported signature algorithm none", id="alg none"),
    pytest.param(lambda: sign(claims(email_verified=False)), "no verified email", id="email not verified"),
    pytest.param(lambda: sign(claims(iss="https://evil.example.com")), "not issued by Google", id="another issuer"),
    pytest.param(lambda: sign(claims(exp=None)), "required claim exp", id="no expiry"),
])
def test_a_bad_token_is_refused(oidc, client, token, why):
    r = send(client, token())
    assert r.status_code == 401 and r.json["error"] == "invalid_token" and why in r.json["detail"], r.json
    assert stored() == []
    assert db.session.execute(select(func.count()).select_from(RejectedCall)).scalar_one() == 1


def test_the_certificates_are_kept_for_their_max_age(oidc, client):
    for n in (1, 2, 3):
        assert send(client, sign(claims()), n=n).json["status"] == "accepted"
    assert len(oidc.requests("GET", "/oauth2/v1/certs")) == 1


def test_unreachable_certificates_refuse_the_push(oidc, client):
    oidc.queue("GET /oauth2/v1/certs", json_response({"error": "backend"}, 503))
    r = send(client, sign(claims()))
    assert r.status_code == 401 and "Could not fetch certificates" in r.json["detail"] and stored() == []
    assert send(client, sign(claims()), n=2).status_code == 200  # a failed fetch is not kept
    assert len(stored()) == 1


def test_with_oidc_set_up_a_push_without_a_token_is_refused_not_stored_unverified(oidc, client):
    r = send(client)
    assert r.status_code == 401 and r.json["error"] == "missing_token"
    r = send(client, "not-a-jwt", n=2)
    assert r.status_code == 401 and r.json["error"] == "invalid_token" and stored() == []


def test_without_the_service_account_setting_nothing_passes(oidc, app, client):
    app.config["GMAIL_PUSH_SERVICE_ACCOUNT"] = None
    r = send(client, sign(claims()))
    assert r.status_code == 401 and r.json["error"] == "oidc_not_configured" and stored() == []


def test_the_shared_token_still_works_beside_oidc(oidc, app, client):
    app.config["GMAIL_PUSH_TOKEN"] = "shared-push-token"
    assert send(client, url="/api/webhooks/gmail?token=shared-push-token").json["status"] == "accepted"
    assert send(client, "shared-push-token", n=2).json["status"] == "accepted"
    assert send(client, sign(claims()), n=3).json["status"] == "accepted"
    wrong = sign(claims(aud="https://other.example.com"))
    r = send(client, wrong, url="/api/webhooks/gmail?token=shared-push-token", n=4)
    assert r.status_code == 401  # a JWT decides on its own
    assert len(stored()) == 3 and all(e.verified for e in stored())


@pytest.mark.parametrize("headers, seconds", [
    ({"Cache-Control": "public, max-age=19626, must-revalidate, no-transform"}, 19626),
    ({"Cache-Control": "public, max-age=600", "Age": "100"}, 500),
    ({"Cache-Control": "no-store, max-age=600"}, 0),
    ({"Cache-Control": "public, max-age=999999"}, 24 * 3600),
    ({}, 0),
])
def test_max_age(headers, seconds):
    assert max_age(headers) == seconds
