"""Flask extensions, created unbound; ``create_app`` binds them."""
from __future__ import annotations

import logging
import time

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sentinel_client(config, options: dict):
    """A client of the master that Redis Sentinel names (``REDIS_SENTINELS``, ``REDIS_SENTINEL_MASTER``):
    after a failover it reconnects to the new master. ``REDIS_URL`` still gives the database number,
    the user and the password of the master; the sentinels are asked without them."""
    from redis.connection import parse_url
    from redis.sentinel import Sentinel

    sentinels = []
    for entry in str(config["REDIS_SENTINELS"]).split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {entry.strip()!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    url = parse_url(config["REDIS_URL"])
    master = {k: url[k] for k in ("db", "username", "password") if url.get(k) is not None}
    timeouts = {k: options[k] for k in ("socket_connect_timeout", "socket_timeout")}
    return Sentinel(sentinels, sentinel_kwargs=timeouts, **timeouts).master_for(
        config["REDIS_SENTINEL_MASTER"], **master, **options)


class RedisExtension:
    """One Redis client per app, and a breaker: after a failure Redis is skipped for a moment,
    so a dead Redis costs callers nothing while the work waits in the database."""

    BREAKER_SECONDS = 2.0

    def __init__(self) -> None:
        self._down_until = 0.0
        self._down = False

    def init_app(self, app: Flask, client=None) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if client is None:
            # Fail fast: a request must not hang on a dead Redis (work stays in the database).
            options = dict(retry=Retry(NoBackoff(), 1),
                           socket_connect_timeout=app.config.get("VANI_REDIS_CONNECT_TIMEOUT", 0.5),
                           socket_timeout=app.config.get("VANI_REDIS_TIMEOUT", 2.0), health_check_interval=30)
            if app.config.get("REDIS_SENTINELS"):
                client = sentinel_client(app.config, options)
            else:
                client = redis.Redis.from_url(app.config["REDIS_URL"], **options)
        app.extensions["vani_redis"] = client

    @property
    def client(self):
        return current_app.extensions["vani_redis"]

    def available(self) -> bool:
        """False for a moment after a failure: skip Redis and leave the work to the sweep."""
        return time.monotonic() >= self._down_until

    def trip(self, exc: Exception) -> None:
        """Record a Redis failure (logged once per outage)."""
        self._down_until = time.monotonic() + self.BREAKER_SECONDS
        if not self._down:
            self._down = True
            log.warning("Redis unreachable; work waits in the database until it is back: %s", exc)

    def succeeded(self) -> None:
        """Record that Redis answered again."""
        if self._down:
            self._down = False
            log.info("Redis is reachable again")

    def reset(self) -> None:
        self._down_until, self._down = 0.0, False


class Session(FlaskSession):
    """The app's session. ``get`` answers from the rows already in memory without a query, so
    the organisation rule (``vani.tenancy``), which scopes queries, could not see it: each check
    in ``get_checks`` may refuse such a row (the answer is then None, as the query would give)."""

    get_checks: list = []

    def get(self, entity, ident, **kwargs):
        found = super().get(entity, ident, **kwargs)
        if found is not None and not all(check(found, kwargs) for check in self.get_checks):
            return None
        return found


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
redis_ext = RedisExtension()
