"""User management for admins: create, change role, enable/disable, reset password."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import func, select

from vani.errors import Conflict, InvalidField
from vani.extensions import db
from vani.models import ROLES, User
from vani.models.base import utcnow

MIN_PASSWORD = 8


def _normalize(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise InvalidField("email", "Enter a valid email address.")
    return email


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidField("password", f"Passwords need at least {MIN_PASSWORD} characters.")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidField("role", f"Role must be one of {', '.join(ROLES)}.")


def list_users() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.email)).scalars())


def find_by_email(email: str) -> User | None:
    email = (email or "").strip().lower()
    return db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def create_user(email: str, password: str, role: str) -> User:
    email = _normalize(email)
    _check_role(role)
    _check_password(password)
    if find_by_email(email):
        raise Conflict(f"A user {email} already exists.")
    user = User(email=email, role=role, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def _active_admins() -> int:
    return db.session.execute(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))).scalar_one()


def update_user(user: User, acting: User, role: str | None = None, active: bool | None = None) -> None:
    """Change role and/or active flag; admins cannot lock themselves out or remove the last admin."""
    if role is not None:
        _check_role(role)
    losing_admin = user.role == "admin" and user.active and (
        (role is not None and role != "admin") or active is False)
    if losing_admin:
        if user.id == acting.id:
            raise Conflict("You cannot remove your own admin access; ask another admin.")
        if _active_admins() <= 1:
            raise Conflict("This is the last active admin.")
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    db.session.commit()


def reset_password(user: User, password: str) -> None:
    _check_password(password)
    user.set_password(password)
    db.session.commit()


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.commit()


def password_stamp(user: User) -> str:
    """A short keyed digest of the password hash, kept in the session at sign-in: a password
    change alters it, which signs out every other session of that user."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]
