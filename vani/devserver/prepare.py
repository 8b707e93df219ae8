"""Before the processes start: check the migrated schema, tune SQLite, create the first admin."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, inspect, select, text


class SetupError(Exception):
    pass


@dataclass
class Admin:
    email: str
    password: str | None  # only when Vani generated it (shown once)
    created: bool


def check_schema(app: Flask) -> None:
    """After ``flask db upgrade``: make sure there is a schema, and let SQLite serve several processes."""
    from vani.extensions import db

    with app.app_context():
        if not inspect(db.engine).has_table("users"):
            raise SetupError("the database has no tables after the migrations ran: migrations/versions "
                             "holds no migration yet (create one with `flask --app run db migrate`)")
        if db.engine.dialect.name == "sqlite":
            # Several processes share the file: WAL lets readers and one writer work together.
            with db.engine.connect() as conn:
                conn.execute(text("PRAGMA journal_mode=WAL"))
        db.session.remove()


def ensure_admin(app: Flask) -> Admin | None:
    """Create an admin of the default organisation (and superuser) when there are no users:
    VANI_ADMIN_EMAIL/VANI_ADMIN_PASSWORD, else a generated password (returned so the banner
    shows it once). None when users exist."""
    from vani import orgs
    from vani.accounts import users
    from vani.errors import InvalidField
    from vani.extensions import db
    from vani.models import Role, User

    with app.app_context():
        if db.session.execute(select(func.count()).select_from(User)).scalar_one():
            db.session.remove()
            return None
        email = (app.config.get("VANI_ADMIN_EMAIL") or "admin@example.com").strip().lower()
        given = app.config.get("VANI_ADMIN_PASSWORD")
        if given and len(given) < 8:
            raise SetupError("VANI_ADMIN_PASSWORD must have at least 8 characters")
        password = given or secrets.token_urlsafe(12)
        try:
            users.create_user(email, password, Role.ADMIN, orgs.ensure_default().id, superuser=True)  # commits
        except InvalidField as exc:  # VANI_ADMIN_EMAIL is not an address
            raise SetupError(f"VANI_ADMIN_EMAIL: {exc.detail}") from None
        db.session.remove()
        return Admin(email, None if given else password, True)
