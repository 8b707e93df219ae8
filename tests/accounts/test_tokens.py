"""API tokens: scopes, expiry, revocation, last use; the CLI and the admin page that manage them."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from vani.extensions import db
from vani.models import ApiToken
from vani.models.base import utcnow
from vani.accounts.tokens import create_token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_missing_scope_is_a_403_that_names_it(client):
    _, read_only = create_token("reader", ["read"])
    assert client.get("/api/v1/events", headers=bearer(read_only)).status_code == 200
    r = client.post("/api/v1/webhooks/subscriptions", headers=bearer(read_only),
                    json={"url": "https://crm.example.com/hook", "events": "*"})
    assert r.status_code == 403 and r.json == {"error": "insufficient_scope", "scope": "subscriptions",
                                               "detail": "this token lacks the subscriptions scope"}
    assert client.get("/api/v1/webhooks/subscriptions", headers=bearer(read_only)).json["scope"] == "subscriptions"
    r = client.post("/api/v1/webhooks/deliveries", headers=bearer(read_only), json={"event": "x.y", "payload": {}})
    assert r.status_code == 403 and r.json["scope"] == "emit"
    assert client.post("/api/v1/calendly/sync", headers=bearer(read_only)).json["scope"] == "admin"


def test_each_scope_opens_its_routes_and_admin_opens_all(client):
    _, emitter = create_token("emitter", ["emit"])
    r = client.post("/api/v1/webhooks/deliveries", headers=bearer(emitter), json={"event": "x.y", "payload": {}})
    assert r.status_code == 202 and r.json["event"] == "x.y"
    from vani.models import OutboundEvent

    assert [e.type for e in db.session.query(OutboundEvent)] == ["x.y"]
    r = client.get("/api/v1/events", headers=bearer(emitter))
    assert r.status_code == 403 and r.json["error"] == "insufficient_scope" and r.json["scope"] == "read"  # no read
    assert "data" not in r.json
    _, admin = create_token("admin", ["admin"])
    for path in ("/api/v1/events", "/api/v1/webhooks/subscriptions", "/api/v1/prospects"):
        r = client.get(path, headers=bearer(admin))
        assert r.status_code == 200, path
        assert r.json["data"] == [], path


def test_every_route_that_changes_something_declares_its_scope(app):
    from vani.api import PUBLIC_ENDPOINTS

    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        if rule.methods - {"GET", "HEAD", "OPTIONS"} and getattr(view, "required_scope", None) is None:
            missing.append(rule.rule)
    assert missing == []


def test_expired_and_revoked_tokens_stop_working_and_use_is_recorded(client):
    row, token = create_token("short", ["read"], expires_at=utcnow() + timedelta(days=1))
    assert client.get("/api/v1/events", headers=bearer(token)).status_code == 200
    assert db.session.get(ApiToken, row.id, populate_existing=True).last_used_at is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    r = client.get("/api/v1/events", headers=bearer(token))
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    row2, token2 = create_token("gone", ["read"])
    from vani.accounts.tokens import revoke_token

    revoke_token(row2.id)
    refused = client.get("/api/v1/events", headers=bearer(token2))
    assert refused.status_code == 401
    assert refused.json["error"] == "unauthorized"


def test_unknown_scopes_and_names_are_refused(app):
    from vani.errors import InvalidField

    with pytest.raises(InvalidField, match="not a scope"):
        create_token("x", ["read", "root"])
    with pytest.raises(InvalidField, match="name"):
        create_token("  ", ["read"])
    assert db.session.query(ApiToken).count() == 0


def test_cli_create_list_revoke(app, client):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["vani", "create-token", "crm", "--scope", "read", "--scope", "emit",
                              "--expires-in-days", "30"]).output
    token = out.strip().splitlines()[-1]
    assert "scopes read, emit" in out and "expires" in out
    assert client.get("/api/v1/events", headers=bearer(token)).status_code == 200
    listed = runner.invoke(args=["vani", "list-tokens"]).output
    assert "crm" in listed and "read,emit" in listed and "active" in listed and token not in listed
    token_id = re.search(r"token (\d+)", out).group(1)
    assert "revoked token" in runner.invoke(args=["vani", "revoke-token", token_id]).output
    assert "revoked" in runner.invoke(args=["vani", "list-tokens"]).output
    refused = client.get("/api/v1/events", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"] == "unauthorized"
    assert runner.invoke(args=["vani", "revoke-token", "999999"]).exit_code != 0
    assert runner.invoke(args=["vani", "create-token", "x", "--scope", "root"]).exit_code != 0


def test_admin_page_lists_creates_once_and_revokes(login, client):
    admin = login("admin")
    r = admin.post("/dashboard/tokens", data={"name": "zapier", "scopes": ["read", "emit"],
                                              "expires_in_days": "7", "csrf_token": admin.csrf})
    assert r.status_code == 201
    token = re.search(r'id="new-token">([^<]+)<', r.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/events", headers=bearer(token)).status_code == 200
    page = admin.get("/dashboard/tokens").get_data(as_text=True)
    assert "zapier" in page and "read, emit" in page and token not in page  # shown once
    row = db.session.query(ApiToken).filter_by(name="zapier").one()
    r = admin.post(f"/dashboard/tokens/{row.id}/revoke", data={"csrf_token": admin.csrf})
    assert r.status_code == 303
    refused = client.get("/api/v1/events", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"] == "unauthorized"
    bad = admin.post("/dashboard/tokens", data={"name": "x", "scopes": ["root"], "csrf_token": admin.csrf})
    assert bad.status_code == 400 and "not a scope" in bad.get_data(as_text=True)
    staff = login("staff")
    refused = staff.get("/dashboard/tokens")
    assert refused.status_code == 403
    assert "This action needs the admin role; you are signed in as staff." in refused.get_data(as_text=True)
    refused = staff.post(f"/dashboard/tokens/{row.id}/revoke", data={"csrf_token": staff.csrf})
    assert refused.status_code == 403
    assert "This action needs the admin role; you are signed in as staff." in refused.get_data(as_text=True)
