"""Limits per organisation, so one tenant cannot crowd out the others: subscriptions
(``VANI_MAX_SUBSCRIPTIONS``, 409 past it) and custom emits a minute (``VANI_EMITS_PER_MINUTE``, 429
with ``Retry-After``), nothing stored when refused, without holding up the organisation's other
writes."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from vani import orgs, tenancy
from vani.accounts.tokens import create_token
from vani.extensions import db
from vani.models import OutboundEvent, Scope, WebhookEvent, WebhookSubscription
from vani.models.base import utcnow

EMIT = "/api/v1/webhooks/deliveries"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def count(model, org_id: int) -> int:
    with tenancy.acting_for(org_id):
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_one_subscription_past_the_limit_is_refused_and_not_stored(app, api, login):
    app.config["VANI_MAX_SUBSCRIPTIONS"] = 2
    for n in (1, 2):
        assert api.post("/api/v1/webhooks/subscriptions", json={"url": f"https://r.example.com/{n}", "events": ["*"]}
                        ).status_code == 201
    r = api.post("/api/v1/webhooks/subscriptions", json={"url": "https://r.example.com/3", "events": ["*"]})
    assert r.status_code == 409 and r.json["error"] == "limit_reached"
    assert "at most 2 subscriptions" in r.json["detail"]
    dash = login("admin")
    page = dash.post("/dashboard/subscriptions", data={"url": "https://r.example.com/4", "events": "*",
                                                       "csrf_token": dash.csrf})
    assert page.status_code == 409 and "at most 2 subscriptions" in page.get_data(as_text=True)
    default = orgs.default_id()
    assert count(WebhookSubscription, default) == 2
    beta = orgs.create("Beta", slug="beta")  # another organisation has its own allowance
    with tenancy.acting_for(beta.id):
        _, token = create_token("beta", [Scope.SUBSCRIPTIONS])
    assert app.test_client().post("/api/v1/webhooks/subscriptions", headers=bearer(token), json={
        "url": "https://r.example.com/b", "events": ["*"]}).status_code == 201


def test_custom_emits_past_the_rate_are_refused_with_retry_after(app, api):
    app.config["VANI_EMITS_PER_MINUTE"] = 3
    for n in range(3):
        assert api.post(EMIT, json={"event": "deal.won", "payload": {"n": n}}).status_code == 202
    r = api.post(EMIT, json={"event": "deal.won", "payload": {"n": 3}})
    assert r.status_code == 429 and r.json["error"] == "too_many_requests"
    assert "3 custom events a minute" in r.json["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert count(OutboundEvent, orgs.default_id()) == 3
    beta = orgs.create("Beta", slug="beta")
    with tenancy.acting_for(beta.id):
        _, token = create_token("beta", [Scope.EMIT])
    assert app.test_client().post(EMIT, headers=bearer(token), json={"event": "deal.won", "payload": {}}
                                  ).status_code == 202


def test_a_refused_emit_does_not_use_up_its_idempotency_key(app, api):
    app.config["VANI_EMITS_PER_MINUTE"] = 1
    assert api.post(EMIT, json={"event": "deal.won", "payload": {}}).status_code == 202
    again = {"json": {"event": "deal.won", "payload": {"n": 2}}, "headers": {"Idempotency-Key": "emit-2"}}
    refused = api.post(EMIT, **again)
    assert refused.status_code == 429
    assert refused.json["error"] == "too_many_requests"
    app.config["VANI_EMITS_PER_MINUTE"] = 2  # as if the minute had passed
    r = api.post(EMIT, **again)
    assert r.status_code == 202 and "Idempotent-Replayed" not in r.headers
    assert count(OutboundEvent, orgs.default_id()) == 2


def test_the_limit_lock_lets_the_organisations_other_writes_through(app):
    """While a request holds the organisation's limit lock, a webhook of the same organisation is
    still stored: the lock keeps its key, which every row referencing the organisation needs."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    from vani.outbound import limits

    app.config["VANI_MAX_SUBSCRIPTIONS"] = 5
    org_id = orgs.default_id()
    with tenancy.acting_for(org_id):
        limits.check_subscription_room()  # the lock is held until this transaction ends
        try:
            with db.engine.connect() as other:
                other.execute(text("SET lock_timeout = '2s'"))  # fail fast instead of waiting
                try:
                    other.execute(WebhookEvent.__table__.insert().values(
                        org_id=org_id, provider="calendly", event_type="invitee.created", dedupe_key="while-locked",
                        verified=True, status="received", body=b"{}", headers={}, received_at=utcnow()))
                    other.commit()
                except OperationalError as exc:
                    pytest.fail(f"the webhook waited for the limit lock: {exc.orig}")
        finally:
            db.session.rollback()
    assert count(WebhookEvent, org_id) == 1


def test_the_document_describes_the_429(client):
    operation = client.get("/api/v1/openapi.json").json["paths"][EMIT]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
