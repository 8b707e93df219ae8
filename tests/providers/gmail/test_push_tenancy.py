"""Gmail pushes stay in their tenant: a push authenticated by one organisation's own token reaches
that organisation only, and its answer names nothing of another; the install's credentials (the
OIDC token of the push subscription, the environment's ``GMAIL_PUSH_TOKEN``) reach every
organisation that connected the mailbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fakes.google_oidc import AUDIENCE, CERTIFICATE, KID, SERVICE_ACCOUNT, claims, sign
from tests.fakes.google import ADDRESS, add_mailbox, fake_google, mailbox_now, push
from tests.work.helpers import drain
from vani import orgs, tenancy
from vani.extensions import db
from vani.models import SyncStatus, WebhookEvent
from vani.orgs.secrets import store_secret
from vani.processing.events import EVENTS

ALPHA_TOKEN = "alpha-own-push-token"


@pytest.fixture
def google(app, httpserver, monkeypatch):
    yield from fake_google(app, httpserver, monkeypatch)


@pytest.fixture
def world(google, app):
    """Alpha and Beta both connected the mailbox at ADDRESS; Alpha has its own push token."""
    app.config.update(GMAIL_PUSH_TOKEN="install-push-token", GMAIL_PUSH_TOKEN_PREVIOUS=None)
    alpha, beta = orgs.create("Alpha", slug="alpha"), orgs.create("Beta", slug="beta")
    for org in (alpha, beta):
        with tenancy.acting_for(org.id):
            add_mailbox(google)
    with tenancy.acting_for(alpha.id):
        store_secret("gmail", ALPHA_TOKEN)
    return alpha, beta


def events_of(org_id: int) -> list[WebhookEvent]:
    db.session.expire_all()
    with tenancy.everywhere():
        return db.session.execute(select(WebhookEvent).where(
            WebhookEvent.org_id == org_id, WebhookEvent.provider == "gmail")).scalars().all()


def answered_ids(answer: dict) -> set[int]:
    return {answer["event_id"]} if "event_id" in answer else set(answer.get("event_ids", []))


def test_an_organisations_own_token_reaches_that_organisation_only(world, client):
    alpha, beta = world
    r = client.post(f"/api/webhooks/gmail/{alpha.key}?token={ALPHA_TOKEN}", data=push(ADDRESS, 700, "own-1"),
                    content_type="application/json")
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    assert events_of(beta.id) == []
    [mine] = events_of(alpha.id)
    assert answered_ids(r.json) == {mine.id}
    drain(EVENTS)
    assert mailbox_now(beta.id).status == SyncStatus.IDLE
    assert mailbox_now(alpha.id).status == SyncStatus.PENDING


def test_an_organisations_own_token_naming_only_anothers_mailbox_stays_home(world, client, google):
    alpha, beta = world
    other = orgs.create("Gamma", slug="gamma")
    with tenancy.acting_for(other.id):
        store_secret("gmail", "gamma-own-push-token")
    r = client.post(f"/api/webhooks/gmail/{other.key}?token=gamma-own-push-token",
                    data=push(ADDRESS, 701, "own-2"), content_type="application/json")
    assert r.status_code == 200, r.json
    assert events_of(alpha.id) == [] and events_of(beta.id) == []
    [kept] = events_of(other.id)
    assert answered_ids(r.json) == {kept.id}
    drain(EVENTS)
    db.session.expire_all()
    assert kept.status == "ignored"
    assert mailbox_now(alpha.id).status == mailbox_now(beta.id).status == SyncStatus.IDLE
    # A second push with the same message id at Beta's URL is not a duplicate of Gamma's: the
    # dedupe key is the organisation's own.
    with tenancy.acting_for(beta.id):
        store_secret("gmail", "beta-own-push-token")
    r = client.post(f"/api/webhooks/gmail/{beta.key}?token=beta-own-push-token",
                    data=push(ADDRESS, 701, "own-2"), content_type="application/json")
    assert r.json["status"] == "accepted" and len(events_of(beta.id)) == 1


def test_the_default_organisations_stored_token_is_its_own(world, client):
    alpha, beta = world
    store_secret("gmail", "default-own-push-token")
    r = client.post("/api/webhooks/gmail?token=default-own-push-token", data=push(ADDRESS, 702, "own-3"),
                    content_type="application/json")
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    assert events_of(alpha.id) == [] and events_of(beta.id) == []
    assert answered_ids(r.json) == {e.id for e in events_of(orgs.default_id())}


def test_the_install_wide_token_reaches_every_organisation_with_the_mailbox(world, client):
    alpha, beta = world
    r = client.post("/api/webhooks/gmail?token=install-push-token", data=push(ADDRESS, 703, "install-1"),
                    content_type="application/json")
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    assert len(events_of(alpha.id)) == 1 and len(events_of(beta.id)) == 1
    assert answered_ids(r.json) == set()  # the default organisation has no such mailbox: nothing of its own
    drain(EVENTS)
    assert mailbox_now(alpha.id).status == mailbox_now(beta.id).status == SyncStatus.PENDING


def test_an_oidc_push_reaches_every_organisation_with_the_mailbox(world, google, app, client):
    alpha, beta = world
    google.certs = {KID: CERTIFICATE}
    app.config.update(GMAIL_PUSH_AUDIENCE=AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT=SERVICE_ACCOUNT)
    r = client.post(f"/api/webhooks/gmail/{alpha.key}", data=push(ADDRESS, 704, "oidc-fan"),
                    content_type="application/json", headers={"Authorization": f"Bearer {sign(claims())}"})
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    [mine], [theirs] = events_of(alpha.id), events_of(beta.id)
    assert answered_ids(r.json) == {mine.id} and theirs.id not in answered_ids(r.json)
    drain(EVENTS)
    assert mailbox_now(alpha.id).status == mailbox_now(beta.id).status == SyncStatus.PENDING
