"""What an operator's tools see: ``/readyz`` means "can accept webhooks" (the database; Redis down
is only degraded) and tells what is down, but why only to admin tokens and
to loopback callers when no proxy was declared (behind one, a loopback peer is the proxy);
database errors are logged without their values, and the access log leaves out query strings."""
from __future__ import annotations

import logging

import pytest

from tests.network import dead_redis
from vani.accounts.tokens import create_token
from vani.models import Scope

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_readyz_says_what_is_down_but_why_only_to_an_admin_token(app, client, api_token):
    app.extensions["vani_redis"], real = dead_redis(), app.extensions["vani_redis"]
    try:
        anonymous = client.get("/readyz", environ_base=OUTSIDE)
        with_token = client.get("/readyz", headers={"Authorization": f"Bearer {api_token}"}, environ_base=OUTSIDE)
    finally:
        app.extensions["vani_redis"] = real
    assert anonymous.status_code == 200  # ingest needs only the database: stay in the load balancer
    assert anonymous.json == {"status": "degraded", "checks": {"database": {"ok": True}, "redis": {"ok": False}}}
    assert "127.0.0.1" not in anonymous.get_data(as_text=True)
    assert "Connection refused" in with_token.json["checks"]["redis"]["error"]


def test_readyz_is_ready_when_both_answer(client):
    r = client.get("/readyz", environ_base=OUTSIDE)
    assert r.status_code == 200
    assert r.json == {"status": "ready", "checks": {"database": {"ok": True}, "redis": {"ok": True}}}


def test_readyz_is_unavailable_when_the_database_does_not_answer(app, client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from vani.extensions import db

    def refused(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection to server at db.internal failed"))

    monkeypatch.setattr(db.session, "execute", refused)
    outside = client.get("/readyz", environ_base=OUTSIDE)
    local = client.get("/readyz")
    assert outside.status_code == 503 and outside.json["status"] == "unavailable"
    assert outside.json["checks"]["database"] == {"ok": False}
    assert "db.internal" not in outside.get_data(as_text=True)
    assert local.status_code == 503 and "db.internal" in local.json["checks"]["database"]["error"]


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


def test_readyz_tells_why_only_to_loopback_and_admin_tokens(app):
    _, reader = create_token("reader", [Scope.READ])
    _, admin = create_token("admin", [Scope.ADMIN])
    client = app.test_client()
    app.extensions["vani_redis"], real = dead_redis(), app.extensions["vani_redis"]
    try:
        as_reader = client.get("/readyz", headers=bearer(reader), environ_base=OUTSIDE)
        as_admin = client.get("/readyz", headers=bearer(admin), environ_base=OUTSIDE)
        from_loopback = client.get("/readyz")
        forwarded = client.get("/readyz", headers={"X-Forwarded-For": "198.51.100.7"})
    finally:
        app.extensions["vani_redis"] = real
    assert as_reader.status_code == 200 and "error" not in as_reader.json["checks"]["redis"]
    assert "127.0.0.1" not in as_reader.get_data(as_text=True)
    assert "Connection refused" in as_admin.json["checks"]["redis"]["error"]
    assert "Connection refused" in from_loopback.json["checks"]["redis"]["error"]
    assert "error" not in forwarded.json["checks"]["redis"]  # through a proxy: not a loopback caller


@pytest.mark.parametrize("declared", [{"VANI_TRUST_PROXY": True}, {"VANI_PROXY_HOPS": "2"}])
def test_behind_a_declared_proxy_a_loopback_peer_is_not_told_why(app, declared):
    """A proxy on this host that adds no forwarding header (TCP mode, a tunnel) makes every caller
    a loopback peer: once a proxy is declared, only an admin token is told why."""
    _, admin = create_token("admin", [Scope.ADMIN])
    app.config.update(declared)
    client = app.test_client()
    app.extensions["vani_redis"], real = dead_redis(), app.extensions["vani_redis"]
    try:
        through_proxy = client.get("/readyz")
        as_admin = client.get("/readyz", headers=bearer(admin))
    finally:
        app.extensions["vani_redis"] = real
    assert through_proxy.status_code == 200 and through_proxy.json["checks"]["redis"] == {"ok": False}
    assert "Connection refused" not in through_proxy.get_data(as_text=True)
    assert "Connection refused" in as_admin.json["checks"]["redis"]["error"]


def test_the_access_log_leaves_out_query_strings():
    import runpy

    from tests.paths import ROOT

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert "%(r)s" not in conf["access_log_format"] and "%(U)s" in conf["access_log_format"]
    assert conf["bind"].startswith("127.0.0.1:")  # a fresh install listens on loopback unless told
