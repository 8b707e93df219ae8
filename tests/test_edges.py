"""The edges: readiness tells strangers nothing they could use, every HTML answer carries the
security headers (error pages too), HSTS in production, database errors logged without values."""
from __future__ import annotations

import logging

from tests.network import dead_redis
from vani.security import CSP


def test_readyz_says_what_is_down_but_why_only_to_an_admin_token(app, client, api_token):
    outside = {"REMOTE_ADDR": "203.0.113.9"}  # loopback callers are told why (see test_org_limits)
    app.extensions["vani_redis"], real = dead_redis(), app.extensions["vani_redis"]
    try:
        anonymous = client.get("/readyz", environ_base=outside)
        with_token = client.get("/readyz", headers={"Authorization": f"Bearer {api_token}"}, environ_base=outside)
    finally:
        app.extensions["vani_redis"] = real
    assert anonymous.status_code == 503
    assert anonymous.json == {"status": "unavailable", "checks": {"database": {"ok": True}, "redis": {"ok": False}}}
    assert "127.0.0.1" not in anonymous.get_data(as_text=True)
    assert "Connection refused" in with_token.json["checks"]["redis"]["error"]


def test_every_html_answer_has_the_security_headers(app, client, login):
    pages = [client.get("/dashboard/login"), client.get("/dashboard/no-such-page"),
             client.get("/nowhere", headers={"Accept": "text/html"}), login("viewer").get("/dashboard/")]
    for r in pages:
        assert r.mimetype == "text/html", r.status_code
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in r.headers  # not over plain development HTTP
    api = client.get("/api/v1/events")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and api.status_code == 401
    app.config["VANI_HSTS"] = True
    assert client.get("/dashboard/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_database_error_is_logged_without_its_values(app, client, caplog, monkeypatch):
    from sqlalchemy import text

    from vani.extensions import db

    assert db.engine.hide_parameters
    secret = "lena-private@example.test"
    with caplog.at_level(logging.DEBUG):
        try:
            db.session.execute(text("SELECT * FROM no_such_table WHERE email = :e"), {"e": secret})
        except Exception as exc:  # the database refuses: what does its message say?
            message = str(exc)
        db.session.rollback()
    assert "no_such_table" in message and secret not in message and secret not in caplog.text
