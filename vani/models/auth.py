"""People and machines that may use Vani: dashboard users, API tokens, stored provider secrets."""
from __future__ import annotations

import enum
from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from vani.crypto import Encrypted
from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, as_utc, isoformat, utcnow
from vani.models.orgs import OrgOwned, Role

ROLES = tuple(Role)


class Scope(enum.StrEnum):
    """What an API token may do. ``admin`` includes every other scope."""
    READ = "read"                    # events, prospects, meetings, conversations, deliveries
    SUBSCRIPTIONS = "subscriptions"  # outbound webhook subscriptions, delivery retries
    EMIT = "emit"                    # custom outbound events
    MESSAGES = "messages"            # send WhatsApp messages, mark conversations read
    WRITE = "write"                  # create and edit prospects, their notes, owners and stages
    ADMIN = "admin"                  # provider connections, syncs, everything


# Tokens made before scopes existed keep what they could do: everything then on offer.
LEGACY_SCOPES = [Scope.READ, Scope.SUBSCRIPTIONS, Scope.EMIT, Scope.ADMIN]


def password_method() -> str:
    """How passwords are hashed: scrypt, unless the testing settings ask for a fast hash (tests sign
    in hundreds of times; a hash made either way is checked the same)."""
    return current_app.config.get("VANI_PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Site-wide: may create organisations (and nothing more; roles are per organisation).
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The organisation this user worked in last: where the next sign-in lands.
    last_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"),
                                                     nullable=True)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    # Set when a dashboard session loads (``memberships.load_member``): the organisations this user
    # belongs to, as [(Organisation, Role)], and the role in the current request's organisation.
    orgs = ()
    current_role = None  # a Role, or None

    @property
    def role(self) -> Role | None:
        return self.current_role

    def can(self, role: Role) -> bool:
        """True when this user's role in the current organisation is at least ``role``."""
        return self.current_role is not None and self.current_role.rank >= Role(role).rank


class ApiToken(OrgOwned, db.Model):
    """A token acts for one organisation and sees only its data."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_org", "org_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex: the token is never stored
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list] = mapped_column(JSONType, default=lambda: [Scope.READ.value])
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def allows(self, scope: Scope) -> bool:
        held = set(self.scopes or ())
        return Scope.ADMIN in held or scope in held

    def expired(self, now: datetime | None = None) -> bool:
        expires = as_utc(self.expires_at)
        return expires is not None and expires <= (now or utcnow())

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "scopes": list(self.scopes or []),
                "created_at": isoformat(self.created_at), "last_used_at": isoformat(self.last_used_at),
                "expires_at": isoformat(self.expires_at), "revoked": self.revoked_at is not None}


class ProviderCredential(OrgOwned, db.Model):
    """A secret Vani generated and registered at a provider (e.g. a Calendly signing key)."""

    __tablename__ = "provider_credentials"
    __table_args__ = (UniqueConstraint("org_id", "provider", "name", name="uq_provider_credentials_org_provider_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))  # e.g. "webhook_secret"
    value: Mapped[str] = mapped_column(Encrypted)  # encrypted at rest
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)  # provider's subscription id
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LoginThrottle(db.Model):
    """Failed sign-ins per account from one address, per address or per account, and when the next
    attempt is allowed (backoff)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # "pair:…", "address:<ip>", "account:…"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    allowed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
