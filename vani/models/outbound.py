"""Outbound webhooks: subscriptions, one delivery per (outbound event, subscription), attempts."""
from __future__ import annotations

import enum
import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vani.crypto import Encrypted
from vani.extensions import db
from vani.models.base import BigId, JSONType, Leased, UTCDateTime, as_utc, in_states, isoformat, state_type, utcnow
from vani.models.masking import conceal_all, mask_header, mask_secret, mask_url, secrets_in
from vani.models.orgs import OrgOwned


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"        # waiting for its next attempt (next_attempt_at)
    DELIVERING = "delivering"  # claimed by a worker until lease_expires_at
    DELIVERED = "delivered"
    FAILED = "failed"          # the dead letter: every scheduled attempt failed (a person may retry it)
    CANCELLED = "cancelled"    # its subscription was disabled before it could be sent


class AttemptTrigger(enum.StrEnum):
    SCHEDULED = "scheduled"  # the first try or a retry by the schedule
    MANUAL = "manual"        # a person asked for it
    LOST = "lost"            # the worker stopped during the attempt; recorded by the takeover


class SignatureScheme(enum.StrEnum):
    """How a subscription's deliveries are signed, and the body they carry."""
    STANDARD_WEBHOOKS = "standard-webhooks"  # webhook-id/-timestamp/-signature; {id, type, timestamp, data}
    HMAC_SHA256 = "hmac-sha256"              # X-Signature: hex HMAC of the body; {event, resource_id, timestamp, data}


class WebhookSubscription(OrgOwned, db.Model):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_created", "org_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSONType, default=list)  # ["*"], ["meeting.*"], ["prospect.created", …]
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[str] = mapped_column(Encrypted)  # whsec_…, kept (encrypted) so deliveries can be signed
    previous_secret: Mapped[str | None] = mapped_column(Encrypted, nullable=True)  # until its window ends
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Shaping (see services.webhooks.shaping): conditions on the body, headers sent with each
    # delivery (JSON, encrypted), a pause that keeps deliveries waiting, at most N sends a second.
    filter: Mapped[list] = mapped_column(JSONType, default=list)
    headers_json: Mapped[str | None] = mapped_column("headers", Encrypted, nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Per prospect, in event order: a delivery waits while an earlier one for its prospect is
    # pending (a retry included). Opt-in: one failing prospect holds up only its own deliveries.
    ordered: Mapped[bool] = mapped_column(Boolean, default=False)
    signature: Mapped[SignatureScheme] = mapped_column(state_type(SignatureScheme, 32),
                                                       default=SignatureScheme.STANDARD_WEBHOOKS)
    # Health
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # of the current streak
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    def matches(self, event_type: str) -> bool:
        """True when this subscription wants ``event_type`` (``*`` = all, ``meeting.*`` = a family)."""
        for pattern in self.events or ():
            if pattern == "*" or pattern == event_type:
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False

    @property
    def custom_headers(self) -> dict[str, str]:
        return json.loads(self.headers_json) if self.headers_json else {}

    @custom_headers.setter
    def custom_headers(self, headers: dict[str, str]) -> None:
        self.headers_json = json.dumps(headers) if headers else None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The current secret, plus the previous one while its rotation window lasts."""
        now = now or utcnow()
        found = [self.secret]
        expires = as_utc(self.previous_secret_expires_at)
        if self.previous_secret and expires and expires > now:
            found.append(self.previous_secret)
        return found

    @property
    def masked_secret(self) -> str | None:
        return mask_secret(self.secret)

    def known_secrets(self) -> tuple[str, ...]:
        """What an error or a reply of the receiver may quote: the URL's password and query
        values, the custom header values (``masking.conceal`` hides them)."""
        return secrets_in(self.url, self.custom_headers)

    def health(self) -> dict:
        return {
            "consecutive_failures": self.consecutive_failures or 0,
            "first_failure_at": isoformat(self.first_failure_at),
            "last_failure_at": isoformat(self.last_failure_at),
            "last_success_at": isoformat(self.last_success_at),
            "disabled_at": isoformat(self.disabled_at),
            "disabled_reason": self.disabled_reason,
        }

    def to_dict(self, reveal_secret: bool = False, full_url: bool = True) -> dict:
        """``reveal_secret`` only right after creation or rotation; masked everywhere else.
        Listings mask the URL's credentials and query (``full_url=False``)."""
        return {
            "id": self.id, "url": self.url if full_url else mask_url(self.url), "events": list(self.events or []),
            "description": self.description, "active": self.active,
            "secret": self.secret if reveal_secret else self.masked_secret,
            "previous_secret_expires_at": isoformat(self.previous_secret_expires_at)
            if self.previous_secret else None,
            "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at),
            "health": self.health(), "filter": list(self.filter or []),
            "headers": {name: mask_header(value) for name, value in self.custom_headers.items()},
            "paused": self.paused, "paused_at": isoformat(self.paused_at), "rate_limit": self.rate_limit,
            "ordered": bool(self.ordered), "signature": str(self.signature or SignatureScheme.STANDARD_WEBHOOKS),
        }


class WebhookDelivery(OrgOwned, Leased, db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("outbound_event_id", "subscription_id", name="uq_webhook_deliveries_event_subscription"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", "id",
              **in_states(DeliveryStatus.PENDING)),
        Index("ix_webhook_deliveries_status_lease", "status", "lease_expires_at"),
        Index("ix_webhook_deliveries_created", "org_id", "created_at", "id"),
        Index("ix_webhook_deliveries_status_created", "org_id", "status", "created_at", "id"),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at", "id"),
        Index("ix_webhook_deliveries_type_created", "org_id", "event_type", "created_at", "id"),
        # Ordered subscriptions: is an earlier delivery for this prospect still waiting?
        Index("ix_webhook_deliveries_ordering", "subscription_id", "ordering_key", "outbound_event_id",
              **in_states(DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbound_event_id: Mapped[int] = mapped_column(ForeignKey("outbound_events.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    msg_id: Mapped[str] = mapped_column(String(64))  # webhook-id header and body "id"; same on every retry
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeliveryStatus] = mapped_column(state_type(DeliveryStatus), default=DeliveryStatus.PENDING)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # next attempt was asked for by a person
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ordering_key: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the prospect it is about

    subscription = relationship("WebhookSubscription", lazy="joined", viewonly=True)
    event = relationship("OutboundEvent", lazy="select", viewonly=True)

    def to_dict(self, masked: bool = False) -> dict:
        """``masked`` for a caller who may not see the subscription's secrets (``masking``)."""
        data = {
            "id": self.id, "status": self.status, "attempts": self.attempts,
            "last_status_code": self.last_status_code, "last_error": self.last_error,
            "next_attempt_at": isoformat(self.next_attempt_at) if self.status == DeliveryStatus.PENDING else None,
            "subscription_id": self.subscription_id, "event": self.event_type, "msg_id": self.msg_id,
            "outbound_event_id": self.outbound_event_id,
            "created_at": isoformat(self.created_at), "last_attempt_at": isoformat(self.last_attempt_at),
            "delivered_at": isoformat(self.delivered_at),
        }
        return conceal_all(data, self.subscription.known_secrets() if self.subscription else ()) if masked else data


class DeliveryAttempt(OrgOwned, db.Model):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "id"),
                      Index("ix_delivery_attempts_org_created", "org_id", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1 for the first try
    trigger: Mapped[AttemptTrigger] = mapped_column(state_type(AttemptTrigger), default=AttemptTrigger.SCHEDULED)
    url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)  # first 2 KB
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self, known: tuple[str, ...] | None = None) -> dict:
        """With ``known`` (the subscription's ``known_secrets``), as a caller who may not see them
        sees it: URL, custom headers, reply and error masked (``masking``)."""
        data = {
            "id": self.id, "number": self.number, "trigger": self.trigger, "url": self.url,
            "request_headers": self.request_headers, "status_code": self.status_code,
            "response_body": self.response_body, "duration_ms": self.duration_ms, "error": self.error,
            "success": self.success, "created_at": isoformat(self.created_at),
        }
        return data if known is None else conceal_all(data, known)
