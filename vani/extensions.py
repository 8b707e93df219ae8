"""Flask extensions, created unbound; ``create_app`` binds them."""
from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RedisExtension:
    """Holds one Redis client per app; ``REDIS_URL`` may be swapped for a test double."""

    def __init__(self) -> None:
        self._factory = None

    def init_app(self, app: Flask, client=None) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if client is None:
            # Fail fast: a request must not hang on a dead Redis (work stays in the database).
            client = redis.Redis.from_url(
                app.config["REDIS_URL"],
                retry=Retry(NoBackoff(), 1),
                socket_connect_timeout=app.config.get("VANI_REDIS_CONNECT_TIMEOUT", 0.5),
                socket_timeout=app.config.get("VANI_REDIS_TIMEOUT", 2.0),
                health_check_interval=30,
            )
        app.extensions["vani_redis"] = client

    @property
    def client(self):
        return current_app.extensions["vani_redis"]


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
redis_ext = RedisExtension()
