"""Provider connections: an organisation's OAuth grant at a provider (today Calendly), with its
tokens encrypted at rest, the account it reaches and the webhook subscription made with it."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.crypto import Encrypted
from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, as_utc, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class ConnectionState(enum.StrEnum):
    """Whether Vani can use the grant."""
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"  # the provider refused the tokens: an admin connects again


class SubscriptionState(enum.StrEnum):
    """The webhook subscription as the provider last reported it."""
    ACTIVE = "active"
    DISABLED = "disabled"  # Calendly stops delivering (after a day of failures) and never re-enables it
    MISSING = "missing"    # the provider has no such subscription (deleted, or never made)
    UNKNOWN = "unknown"    # the provider could not be asked, or answered a state Vani does not know


class ProviderConnection(OrgOwned, db.Model):
    """One per organisation and provider."""

    __tablename__ = "provider_connections"
    __table_args__ = (UniqueConstraint("org_id", "provider", name="uq_provider_connections_org_provider"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    # The account the grant reaches (Calendly: the user and its organization).
    account_uri: Mapped[str | None] = mapped_column(String(512), nullable=True)
    account_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    account_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    organization_uri: Mapped[str | None] = mapped_column(String(512), nullable=True)
    access_token: Mapped[str] = mapped_column(Encrypted)
    refresh_token: Mapped[str | None] = mapped_column(Encrypted, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    subscription_uri: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subscription_state: Mapped[SubscriptionState | None] = mapped_column(state_type(SubscriptionState),
                                                                         nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # subscription_state's time
    state: Mapped[ConnectionState] = mapped_column(state_type(ConnectionState), default=ConnectionState.CONNECTED)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def expires_within(self, seconds: float) -> bool:
        expires = as_utc(self.expires_at)
        return expires is not None and (expires - utcnow()).total_seconds() < seconds

    def to_dict(self) -> dict:
        """What the API shows (never a token)."""
        return {"provider": self.provider, "state": str(self.state),
                "account": {"uri": self.account_uri, "name": self.account_name, "email": self.account_email,
                            "organization": self.organization_uri},
                "expires_at": isoformat(self.expires_at),
                "subscription": {"uri": self.subscription_uri,
                                 "state": str(self.subscription_state) if self.subscription_state else None,
                                 "checked_at": isoformat(self.checked_at)},
                "last_error": self.last_error, "created_at": isoformat(self.created_at),
                "updated_at": isoformat(self.updated_at)}
