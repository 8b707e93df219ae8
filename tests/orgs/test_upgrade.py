"""An install from before organisations upgrades into one default organisation: its users,
tokens, subscriptions, provider secrets and data keep working, at the same URLs."""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import select, text

from tests.bookings import calendly
from tests.paths import MIGRATIONS
from tests.signing import calendly_headers
from tests.work.helpers import drain
from vani import create_app, orgs, tenancy
from vani.accounts.tokens import hash_token
from vani.crypto import Encrypted
from vani.extensions import db
from vani.models import Membership, Prospect, User, WebhookDelivery, WebhookEvent
from vani.models.base import JSONType
from vani.processing.events import EVENTS

BEFORE_ORGANISATIONS = "26d307c7031c"
STORED_KEY = "calendly-key-stored-before"
SECRET = "whsec_" + "c2VjcmV0LW9mLWEtc3Vic2NyaWJlci1iZWZvcmUtb3Jncw=="

# The tables as they were, for inserting rows the way that version did (secrets encrypted).
_meta = sa.MetaData()
_subs = sa.Table("webhook_subscriptions", _meta, sa.Column("url", sa.String), sa.Column("events", JSONType),
                 sa.Column("secret", Encrypted), sa.Column("active", sa.Boolean),
                 sa.Column("created_at", sa.DateTime), sa.Column("updated_at", sa.DateTime),
                 sa.Column("consecutive_failures", sa.Integer))
_creds = sa.Table("provider_credentials", _meta, sa.Column("provider", sa.String), sa.Column("name", sa.String),
                  sa.Column("value", Encrypted), sa.Column("created_at", sa.DateTime),
                  sa.Column("updated_at", sa.DateTime))
_tokens = sa.Table("api_tokens", _meta, sa.Column("name", sa.String), sa.Column("token_hash", sa.String),
                   sa.Column("prefix", sa.String), sa.Column("scopes", JSONType), sa.Column("created_at", sa.DateTime))


def _fill_old_install(conn, receiver_url: str) -> None:
    from datetime import datetime

    from werkzeug.security import generate_password_hash

    now = datetime(2026, 11, 1, 9, 0)
    pw = generate_password_hash("password-123")
    for email, role in (("owner@old.test", "admin"), ("helper@old.test", "staff")):
        conn.execute(text("INSERT INTO users (email, password_hash, role, active, created_at) "
                          "VALUES (:e, :p, :r, :a, :t)"), {"e": email, "p": pw, "r": role, "a": True, "t": now})
    conn.execute(_tokens.insert().values(name="crm", token_hash=hash_token("vani_old-token"), prefix="vani_old-t",
                                         scopes=["read", "subscriptions"], created_at=now))
    conn.execute(text("INSERT INTO prospects (email, name, created_at, updated_at) "
                      "VALUES ('kept@old.test', 'Kept Prospect', :t, :t)"), {"t": now})
    conn.execute(text("INSERT INTO webhook_events (provider, event_type, dedupe_key, verified, status, body, "
                      "headers, received_at, attempts) VALUES ('calendly', 'invitee.created', 'old:1', :v, "
                      "'processed', :b, '{}', :t, 1)"), {"v": True, "b": b"{}", "t": now})
    conn.execute(_subs.insert().values(url=receiver_url, events=["*"], secret=SECRET, active=True,
                                       created_at=now, updated_at=now, consecutive_failures=0))
    conn.execute(_creds.insert().values(provider="calendly", name="webhook_secret", value=STORED_KEY,
                                        created_at=now, updated_at=now))


def test_an_install_before_organisations_keeps_working(fresh_database_url, redis_client):  # noqa: F811
    app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": fresh_database_url,
                      "REDIS_CLIENT": redis_client, "CALENDLY_WEBHOOK_SIGNING_KEY": None,
                      "VANI_ALLOW_PRIVATE_TARGETS": True})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision=BEFORE_ORGANISATIONS)
        with db.engine.begin() as conn:
            _fill_old_install(conn, "https://receiver.example.com/hook")
        upgrade(directory=str(MIGRATIONS))
        orgs.forget_cache()
        default = orgs.by_slug("default")

        # People: members of the default organisation with their old roles; admins are superusers.
        owner = db.session.execute(select(User).where(User.email == "owner@old.test")).scalar_one()
        helper = db.session.execute(select(User).where(User.email == "helper@old.test")).scalar_one()
        roles = dict(db.session.execute(select(Membership.user_id, Membership.role)).all())
        assert roles == {owner.id: "admin", helper.id: "staff"}
        assert owner.is_superuser and not helper.is_superuser

        client = app.test_client()
        # The old token, unchanged, reads the old data, which is the default organisation's.
        headers = {"Authorization": "Bearer vani_old-token"}
        r = client.get("/api/v1/prospects", headers=headers)
        assert r.status_code == 200 and [p["email"] for p in r.json["data"]] == ["kept@old.test"]
        r = client.get("/api/v1/webhooks/subscriptions", headers=headers)
        assert [s["url"] for s in r.json["data"]] == ["https://receiver.example.com/hook"]

        # The old webhook URL, with the secret stored before, still lands events (in the default organisation).
        body = json.dumps(calendly("invitee.created", 7, email="new@old.test")).encode()
        r = client.post("/api/webhooks/calendly", data=body, headers=calendly_headers(body, secret=STORED_KEY))
        assert r.status_code == 200 and r.json["status"] == "accepted", r.json
        with tenancy.everywhere():
            stored = db.session.get(WebhookEvent, r.json["event_id"])
            assert stored.org_id == default.id
        # Processed, it reaches the old subscription.
        drain(EVENTS)
        with tenancy.acting_for(default.id):
            assert db.session.execute(select(Prospect.email).order_by(Prospect.email)).scalars().all() == [
                "kept@old.test", "new@old.test"]
            assert db.session.execute(select(WebhookDelivery)).scalars().first() is not None

        # The old admin signs in to the same dashboard.
        from tests.clients import csrf_token_from, fresh_client

        browser = fresh_client(app)
        r = browser.post("/dashboard/login", data={"email": "owner@old.test", "password": "password-123",
                                                   "csrf_token": csrf_token_from(browser)})
        assert r.status_code == 302
        page = browser.get("/dashboard/users").get_data(as_text=True)
        assert "helper@old.test" in page and "Members of Default" in page
        db.session.remove()
        db.engine.dispose()
