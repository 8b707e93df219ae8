"""Organisations: the teams sharing one Vani, isolated from each other; and who belongs to which."""
from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from vani.crypto import Encrypted, SecretUnreadable
from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, isoformat, state_type, utcnow

DEFAULT_SLUG = "default"


class Role(enum.StrEnum):
    """A member's role in one organisation: each includes the ones below it."""
    ADMIN = "admin"    # members, subscriptions, secrets, provider connections
    STAFF = "staff"    # retry, replay, send messages, every operator action
    VIEWER = "viewer"  # read only

    @property
    def rank(self) -> int:
        return {Role.ADMIN: 2, Role.STAFF: 1, Role.VIEWER: 0}[self]


def new_key() -> str:
    """The random part of an organisation's webhook URLs (unguessable, URL-safe)."""
    return secrets.token_urlsafe(18)


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    key: Mapped[str] = mapped_column(String(64), unique=True, default=new_key)  # in webhook URLs
    # Notifications: routes and channels (the default organisation falls back to the settings).
    notify_routes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Deferred: decrypted only where it is read, so that one no key can read breaks no page.
    slack_webhook_url: Mapped[str | None] = mapped_column(Encrypted, nullable=True, deferred=True)
    notify_email_to: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Send WhatsApp read receipts as soon as an inbound message arrives (not when someone opens it).
    mark_read_on_arrival: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_default(self) -> bool:
        return self.slug == DEFAULT_SLUG

    @property
    def slack_url(self) -> str | None:
        """The Slack URL; None when unset or when no key can decrypt it (``slack_unreadable``)."""
        try:
            return self.slack_webhook_url
        except SecretUnreadable:
            return None

    @property
    def slack_unreadable(self) -> bool:
        try:
            self.slack_webhook_url
        except SecretUnreadable:
            return True
        return False

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "slug": self.slug, "timezone": self.timezone,
                "created_at": isoformat(self.created_at)}


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id", name="uq_memberships_user_org"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(state_type(Role), default=Role.VIEWER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"    # sent; its link works until it expires
    ACCEPTED = "accepted"  # the invited account joined (the link is used up)
    DECLINED = "declined"  # the invited account said no
    REVOKED = "revoked"    # an admin took it back (or invited the address again)


class OrgOwned:
    """A row that belongs to one organisation. Every ORM read of such a model is scoped to the
    organisation in force (see ``vani.tenancy``); inserts name it themselves."""

    @declared_attr
    def org_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))  # indexed by each table


class Invitation(OrgOwned, db.Model):
    """An admin's invitation for an email address to join the organisation with a role: the
    account joins only once it accepts (or, for someone new, signs up through the link)."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_org", "org_id", "status"), Index("ix_invitations_email", "email", "status"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # lower case
    role: Mapped[Role] = mapped_column(state_type(Role), default=Role.VIEWER)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex: the link's token is never stored
    status: Mapped[InvitationStatus] = mapped_column(state_type(InvitationStatus), default=InvitationStatus.PENDING)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
