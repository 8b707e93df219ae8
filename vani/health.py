"""Liveness and readiness probes.

``/readyz`` means "this node can accept webhooks": that needs the database only (ingest stores
the call and answers; work stored while Redis is away is handed over when it is back). So a
database that does not answer makes the node unready (503), while Redis that does not answer is
reported as ``degraded`` with a 200: a Redis blip must not take every web node out of the load
balancer and turn providers' calls into failures.

Anyone may ask; only a caller with an admin-scope API token, or
on this machine (loopback, when no proxy was declared: ``proxy.loopback_caller``), is told why
something is not ready (error texts can name hosts and users): another organisation's reader has
no business knowing the install's database host."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from vani.accounts.tokens import authenticate
from vani.extensions import db, redis_ext
from vani.models import Scope
from vani.proxy import loopback_caller

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _may_see_errors() -> bool:
    if loopback_caller(request, current_app.config):
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    try:
        found = authenticate(token.strip())
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return found is not None and found.allows(Scope.ADMIN)


@bp.get("/readyz")
def readyz():
    checks: dict[str, dict] = {}
    errors: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"ok": False}
        errors["database"] = str(exc).splitlines()[0][:200]
    try:
        redis_ext.client.ping()
        checks["redis"] = {"ok": True}
    except RedisError as exc:
        checks["redis"] = {"ok": False}
        errors["redis"] = str(exc)[:200]
    if errors and _may_see_errors():
        for name, error in errors.items():
            checks[name]["error"] = error
    if not checks["database"]["ok"]:
        return jsonify({"status": "unavailable", "checks": checks}), 503
    return jsonify({"status": "ready" if checks["redis"]["ok"] else "degraded", "checks": checks}), 200
