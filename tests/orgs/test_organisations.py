"""Organisations: webhook URLs and secrets per organisation, prospects per organisation,
outbound webhooks, notifications and live updates that stay in their organisation, the CLI, and
the dashboard's organisation pages."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from tests.bookings import calendly
from tests.outbound.helpers import subscribe
from tests.settings import SECRETS
from tests.signing import calendly_headers, dumps
from vani.accounts import memberships
from vani import orgs, tenancy
from vani.accounts import invitations
from vani.dashboard import live
from vani.extensions import db
from vani.models import (
    Membership,
    Notification,
    NotificationSend,
    Prospect,
    User,
    WebhookDelivery,
    WebhookEvent,
)
from vani.orgs.secrets import store_secret

BETA_SECRET = "beta-calendly-signing-key"


@dataclass
class Org:
    id: int
    key: str
    slug: str


@pytest.fixture
def beta(app) -> Org:
    org = orgs.create("Beta Sales", slug="beta", timezone="Europe/Berlin")
    with tenancy.acting_for(org.id):
        store_secret("calendly", BETA_SECRET)
    return Org(org.id, org.key, org.slug)


def post(client, url: str, data: dict, secret: str):
    body = dumps(data)
    return client.post(url, data=body, headers=calendly_headers(body, secret=secret))


def count(model, org_id: int, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(model.org_id == org_id, *where)
                              .execution_options(unscoped=True)).scalar_one()


# -- webhook URLs -----------------------------------------------------------------------------
def test_each_organisation_has_its_url_and_its_secret(client, beta):
    default = tenancy.require()
    booking = calendly("invitee.created", 1, email="lena@example.test")
    r = post(client, f"/api/webhooks/calendly/{beta.key}", booking, BETA_SECRET)
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert count(WebhookEvent, beta.id) == 1 and count(WebhookEvent, default) == 0
    # The URL without a key is the default organisation's, as before organisations.
    r = post(client, "/api/webhooks/calendly", booking, SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"])
    assert r.status_code == 200 and count(WebhookEvent, default) == 1
    # One organisation's secret does not open the other's URL.
    other = calendly("invitee.created", 2)
    r = post(client, f"/api/webhooks/calendly/{beta.key}", other, SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"])
    assert r.status_code == 401 and r.json["error"] == "invalid_signature"
    r = post(client, "/api/webhooks/calendly", other, BETA_SECRET)
    assert r.status_code == 401
    # The default organisation's keyed URL works too.
    r = post(client, f"/api/webhooks/calendly/{orgs.get(default).key}", other,
             SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"])
    assert r.status_code == 200 and count(WebhookEvent, default) == 2


def test_an_unknown_key_answers_404_and_stores_nothing(client, beta):
    r = post(client, "/api/webhooks/calendly/not-a-key", calendly("invitee.created"), BETA_SECRET)
    assert r.status_code == 404 and r.json["error"] == "unknown_organisation"
    assert db.session.execute(select(func.count()).select_from(WebhookEvent)
                              .execution_options(unscoped=True)).scalar_one() == 0


def test_the_same_email_is_one_prospect_per_organisation(client, run_worker, beta):
    default = tenancy.require()
    for n, (url, secret) in enumerate([("/api/webhooks/calendly", SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"]),
                                       (f"/api/webhooks/calendly/{beta.key}", BETA_SECRET),
                                       (f"/api/webhooks/calendly/{beta.key}", BETA_SECRET)]):
        assert post(client, url, calendly("invitee.created", n, email="Same@Example.test"), secret).status_code == 200
    run_worker()
    assert count(Prospect, default) == 1 and count(Prospect, beta.id) == 1  # the second booking in Beta: same prospect
    emails = db.session.execute(select(Prospect.email, Prospect.org_id).execution_options(unscoped=True)).all()
    assert sorted(emails) == sorted([("same@example.test", default), ("same@example.test", beta.id)])


def test_subscribers_receive_only_their_organisations_events(client, run_worker, beta, httpserver):
    httpserver.expect_request("/a").respond_with_data("ok")
    httpserver.expect_request("/b").respond_with_data("ok")
    default = tenancy.require()
    subscribe(httpserver.url_for("/a"))
    with tenancy.acting_for(beta.id):
        subscribe(httpserver.url_for("/b"))
    post(client, f"/api/webhooks/calendly/{beta.key}", calendly("invitee.created", 1), BETA_SECRET)
    run_worker()
    assert count(WebhookDelivery, default) == 0 and count(WebhookDelivery, beta.id) > 0
    paths = {request.path for request, _ in httpserver.log}
    assert paths == {"/b"}


def test_notifications_follow_the_organisations_routes(app, client, run_worker, beta, httpserver):
    """Beta sends new prospects to its own Slack; the default organisation has no Slack set."""
    seen = []
    httpserver.expect_request("/beta-slack", method="POST").respond_with_handler(
        lambda request: seen.append(request.get_json()) or Response("ok"))
    app.config.update(SLACK_WEBHOOK_URL=None, VANI_NOTIFY_ROUTES=None)
    with tenancy.acting_for(beta.id):
        orgs.set_notifications(routes="prospect.created=slack;*=none", slack_url=httpserver.url_for("/beta-slack"))
    post(client, "/api/webhooks/calendly", calendly("invitee.created", 1, email="a@example.test"),
         SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"])
    post(client, f"/api/webhooks/calendly/{beta.key}", calendly("invitee.created", 2, email="b@example.test"),
         BETA_SECRET)
    run_worker()
    assert len(seen) == 1 and "b@example.test" in json.dumps(seen[0])
    mine = db.session.execute(select(Notification.kind)).scalars().all()  # the default organisation's
    assert sorted(mine) == ["meeting.scheduled", "prospect.created"]
    assert "slack" not in db.session.execute(select(NotificationSend.channel)).scalars().all()


def test_live_updates_go_to_the_organisations_channel(client, run_worker, beta, redis_client):
    default = tenancy.require()
    pubsub = redis_client.pubsub()
    pubsub.subscribe(live.channel(default), live.channel(beta.id))
    event_id = post(client, f"/api/webhooks/calendly/{beta.key}", calendly("invitee.created", 1),
                    BETA_SECRET).json["event_id"]
    run_worker()
    got = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            got.append((message["channel"].decode(), message["data"].decode()))
    pubsub.close()
    assert (live.channel(beta.id), f"event:{event_id}") in got
    assert not [m for m in got if m[0] == live.channel(default)]


def test_the_stream_of_a_member_relays_only_their_organisation(login, beta, redis_client):
    from tests.clients import open_stream, read_until

    client = login("viewer")
    response, chunks = open_stream(client)
    next(chunks)
    redis_client.publish(live.channel(beta.id), "event:999001")
    redis_client.publish(live.channel(tenancy.require()), "event:42")
    frames = read_until(chunks, "data: event:42")
    response.close()
    assert "999001" not in frames


def test_dead_letters_and_secret_sweeps_per_organisation(app, beta):
    from tests.web.seed import add_event
    from vani.outbound import rotate_secret
    from vani.outbound.subscriptions import clear_expired_secrets
    from vani.work.sweep import dead_letters

    with tenancy.acting_for(beta.id):
        add_event(status="dead")
        sub, _ = subscribe("https://beta.example.com/h")
        rotate_secret(sub.id)
    sub_a, _ = subscribe("https://a.example.com/h")
    rotate_secret(sub_a.id)
    assert dead_letters(tenancy.require())["events"] == 0 and dead_letters(beta.id)["events"] == 1
    from datetime import timedelta

    from vani.models.base import utcnow

    with tenancy.acting_for(None):  # the scheduler's job: every organisation
        assert clear_expired_secrets(utcnow() + timedelta(days=2)) == 2


# -- the dashboard ----------------------------------------------------------------------------
def test_only_superusers_create_organisations(app, login, make_user):
    admin = login("admin")
    refused = admin.get("/dashboard/orgs/new")
    assert refused.status_code == 403
    assert "Only superusers create organisations." in refused.get_data(as_text=True)
    r = admin.post("/dashboard/orgs", data={"name": "Gamma", "csrf_token": admin.csrf})
    assert r.status_code == 403
    boss = login("viewer")
    db.session.execute(User.__table__.update().where(User.id == boss.user.id).values(is_superuser=True))
    db.session.commit()
    r = boss.post("/dashboard/orgs", data={"name": "Gamma Team", "timezone": "Nowhere/Else", "csrf_token": boss.csrf})
    assert r.status_code == 400 and "is not a time zone" in r.get_data(as_text=True)
    r = boss.post("/dashboard/orgs", data={"name": "Gamma Team", "csrf_token": boss.csrf})
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboard/organisation")
    gamma = orgs.by_slug("gamma-team")
    assert memberships.role_of(boss.user.id, gamma.id) == "admin"
    page = boss.get("/dashboard/organisation").get_data(as_text=True)
    assert f"/api/webhooks/calendly/{gamma.key}" in page and "Gamma Team" in page
    assert boss.get("/dashboard/prospects").status_code == 200  # working in Gamma now, as its admin
    r = boss.post("/dashboard/orgs", data={"name": "Gamma Team", "csrf_token": boss.csrf})
    assert r.status_code == 409


def test_an_account_in_no_organisation_is_told_so(app, make_user):
    from tests.clients import csrf_token_from, fresh_client

    user = make_user("viewer", email="loner@example.com")
    db.session.execute(Membership.__table__.delete().where(Membership.user_id == user.id))
    db.session.commit()
    client = fresh_client(app)
    client.post("/dashboard/login", data={"email": "loner@example.com", "password": "password-123",
                                          "csrf_token": csrf_token_from(client)})
    r = client.get("/dashboard/")
    assert r.status_code == 403 and "belongs to no organisation" in r.get_data(as_text=True)


def test_members_are_per_organisation(app, login, beta, make_user):
    admin = login("admin")
    shared = make_user("staff", email="shared@example.com")  # in the default organisation
    with tenancy.acting_for(beta.id):
        admin_b = login("admin", org_id=beta.id)
    # Beta's admin invites the existing account; it joins when it accepts, keeping its password.
    with tenancy.acting_for(beta.id):
        sent = invitations.invite("shared@example.com", "viewer", admin_b.user)
    assert memberships.role_of(shared.id, beta.id) is None
    invitations.accept(sent.token, shared)
    assert memberships.role_of(shared.id, beta.id) == "viewer" and memberships.role_of(shared.id, tenancy.require()) == "staff"
    # An account in two organisations: neither admin may change its password or disable it.
    for client in (admin, admin_b):
        r = client.post(f"/dashboard/users/{shared.id}/password", data={"password": "taken-over-1",
                                                                        "csrf_token": client.csrf})
        assert r.status_code == 409 and "also belongs to other organisations" in r.get_data(as_text=True)
        r = client.post(f"/dashboard/users/{shared.id}", data={"active": "0", "csrf_token": client.csrf})
        assert r.status_code == 409
    db.session.refresh(shared)
    assert shared.check_password("password-123") and shared.active
    # Removing them from Beta leaves the default organisation's membership.
    r = admin_b.post(f"/dashboard/users/{shared.id}/remove", data={"csrf_token": admin_b.csrf})
    assert r.status_code == 302
    assert memberships.role_of(shared.id, beta.id) is None and memberships.role_of(shared.id, tenancy.require()) == "staff"
    # Beta's list shows only Beta's members.
    page = admin_b.get("/dashboard/users").get_data(as_text=True)
    assert "<td>shared@example.com" not in page and f"<td>{admin.user.email}" not in page
    assert f"<td>{admin_b.user.email}" in page


# -- the CLI ----------------------------------------------------------------------------------
def run(app, *args):
    return app.test_cli_runner().invoke(args=["vani", *args])


def test_cli_organisations(app):
    r = run(app, "create-org", "Delta Team", "--timezone", "Europe/Rome")
    assert r.exit_code == 0, r.output
    delta = orgs.by_slug("delta-team")
    assert f"slug delta-team, key {delta.key}" in r.output
    assert f"/api/webhooks/calendly/{delta.key}" in r.output and f"/api/webhooks/twilio/{delta.key}" in r.output
    r = run(app, "create-user", "dee@example.com", "--org", "delta-team", "--role", "staff", "--password", "long-enough-1")
    assert r.exit_code == 0 and "created dee@example.com: staff of delta-team" in r.output
    user = db.session.execute(select(User).where(User.email == "dee@example.com")).scalar_one()
    assert memberships.role_of(user.id, delta.id) == "staff" and memberships.role_of(user.id, tenancy.require()) is None
    r = run(app, "create-token", "crm", "--org", "delta-team", "--scope", "read")
    assert r.exit_code == 0
    token = r.output.strip().splitlines()[-1]
    from vani.accounts.tokens import authenticate

    assert authenticate(token).org_id == delta.id
    r = run(app, "webhooks", "set-secret", "calendly", "delta-signing-key", "--org", "delta-team")
    assert r.exit_code == 0
    from vani.orgs.secrets import secrets_for
    from vani.providers.registry import get_provider

    assert secrets_for(get_provider("calendly"), delta.id) == ["delta-signing-key"]
    r = run(app, "webhooks", "set-key", "kapso", "KAPSO_API_KEY", "delta-kapso-key", "--org", "delta-team")
    assert r.exit_code == 0
    from vani.orgs.provider_settings import config_for

    assert config_for(delta.id)["KAPSO_API_KEY"] == "delta-kapso-key"
    r = run(app, "webhooks", "set-key", "kapso", "CAL_COM_API_KEY", "x", "--org", "delta-team")
    assert r.exit_code != 0 and "kapso settings are KAPSO_API_KEY, KAPSO_PHONE_NUMBER_ID" in r.output
    r = run(app, "create-token", "x", "--org", "nope")
    assert r.exit_code != 0 and "no organisation 'nope'" in r.output
    r = run(app, "list-orgs")
    assert "delta-team" in r.output and "default" in r.output


def test_provider_settings_per_organisation(app, beta):
    from vani.orgs.provider_settings import config_for
    from vani.registration.registrars import make_registrar

    app.config.update(KAPSO_API_KEY="env-key", KAPSO_PHONE_NUMBER_ID="env-phone", PUBLIC_URL="https://vani.example.com")
    default_cfg, beta_cfg = config_for(tenancy.require()), config_for(beta.id)
    assert default_cfg["KAPSO_API_KEY"] == "env-key"
    assert beta_cfg["KAPSO_API_KEY"] is None  # the environment's keys are the default organisation's
    registrar = make_registrar("kapso", beta_cfg, org=orgs.get(beta.id))
    assert registrar.missing() == "KAPSO_API_KEY is not set"
    assert registrar.target("https://vani.example.com") == f"https://vani.example.com/api/webhooks/kapso/{beta.key}"
    assert make_registrar("kapso", default_cfg, org=orgs.get(tenancy.require())).target(
        "https://vani.example.com") == "https://vani.example.com/api/webhooks/kapso"


def test_admins_set_their_organisations_secrets_keys_and_notifications(app, login, beta, client):
    admin_b = login("admin", org_id=beta.id)
    r = admin_b.post("/dashboard/organisation/secrets", data={"provider": "calendly", "secret": "new-beta-secret",
                                                              "csrf_token": admin_b.csrf})
    assert r.status_code == 303
    booking = calendly("invitee.created", 5)
    assert post(client, f"/api/webhooks/calendly/{beta.key}", booking, "new-beta-secret").status_code == 200
    assert post(client, f"/api/webhooks/calendly/{beta.key}", calendly("invitee.created", 6),
                BETA_SECRET).status_code == 200  # the replaced one: still accepted for 24 h
    r = admin_b.post("/dashboard/organisation/keys", data={"setting": "CAL_COM_API_KEY", "value": "beta-cal-key",
                                                           "csrf_token": admin_b.csrf})
    assert r.status_code == 303
    r = admin_b.post("/dashboard/organisation/notifications", data={
        "routes": "*=slack", "slack_url": "https://hooks.slack.com/services/T/B/beta", "email_to": "",
        "csrf_token": admin_b.csrf})
    assert r.status_code == 303
    page = admin_b.get("/dashboard/organisation").get_data(as_text=True)
    assert "beta-cal-key" not in page and "hooks.slack.com/services/T/B/beta" not in page  # write-only
    assert "Notification settings saved." in page
    from vani.notifications.routing import settings_for
    from vani.orgs.provider_settings import config_for

    assert config_for(beta.id)["CAL_COM_API_KEY"] == "beta-cal-key"
    assert config_for(tenancy.require())["CAL_COM_API_KEY"] != "beta-cal-key"
    assert settings_for(beta.id)["SLACK_WEBHOOK_URL"] == "https://hooks.slack.com/services/T/B/beta"
    r = admin_b.post("/dashboard/organisation/notifications", data={"routes": "nonsense", "csrf_token": admin_b.csrf})
    assert r.status_code == 400 and "is not kind=channel" in r.get_data(as_text=True)
    staff_b = login("staff", org_id=beta.id)
    r = staff_b.post("/dashboard/organisation/keys", data={"setting": "CAL_COM_API_KEY", "value": "x",
                                                           "csrf_token": staff_b.csrf})
    assert r.status_code == 403
