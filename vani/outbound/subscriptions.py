"""Managing webhook subscriptions: create, update, delete, rotate the secret, look up."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from vani import egress
from vani.errors import InvalidField, NotFound, check_id
from vani.extensions import db
from vani.models import (
    Backfill,
    DeliveryAttempt,
    DeliveryStatus,
    SignatureScheme,
    WebhookDelivery,
    WebhookSubscription,
)
from vani.models.base import utcnow
from vani.outbound import limits, shaping, signing
from vani.outbound.delivery_lane import DELIVERIES
from vani.outbound.health import cancel_pending
from vani.work import effects

ROTATION_WINDOW = timedelta(hours=24)
MAX_EVENT_PATTERNS = 50
MAX_RATE = 1000  # deliveries per second, per subscription
_EVENT_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))*)$")
_UNSET = object()


def validate_url(url: object) -> str:
    """The URL, stripped; raises InvalidField("url", …) (scheme, host, port, SSRF ranges)."""
    egress.check_url(url)  # type: ignore[arg-type]
    return url.strip()  # type: ignore[union-attr]


def validate_event_type(value: object, field: str = "event") -> str:
    """A concrete event type such as ``meeting.scheduled`` (no wildcards)."""
    if not isinstance(value, str) or not value or len(value) > 64 or "*" in value or not _EVENT_RE.match(value):
        raise InvalidField(field, "must be a dotted lower-case name such as meeting.scheduled")
    return value


def validate_events(events: object) -> list[str]:
    """``"*"`` or a non-empty list of types or patterns (``*``, ``meeting.*``, ``prospect.created``)."""
    if events == "*":
        return ["*"]
    if not isinstance(events, list) or not events:
        raise InvalidField("events", 'must be "*" or a non-empty list of event types')
    if len(events) > MAX_EVENT_PATTERNS:
        raise InvalidField("events", f"at most {MAX_EVENT_PATTERNS} entries")
    cleaned: list[str] = []
    for item in events:
        if not isinstance(item, str) or len(item) > 64 or not _EVENT_RE.match(item):
            raise InvalidField("events", f"{item!r} is not an event type or pattern (e.g. meeting.* or *)")
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


def validate_description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise InvalidField("description", "must be a string of at most 1000 characters")
    return value.strip() or None


def get_subscription(subscription_id: int) -> WebhookSubscription:
    sub = db.session.get(WebhookSubscription, check_id(subscription_id, "subscription"))
    if sub is None:
        raise NotFound(f"no subscription {subscription_id}")
    return sub


def list_subscriptions(active: bool | None = None) -> list[WebhookSubscription]:
    """All subscriptions, newest first (there are few)."""
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.created_at.desc(), WebhookSubscription.id.desc())
    if active is not None:
        stmt = stmt.where(WebhookSubscription.active.is_(active))
    return list(db.session.execute(stmt).scalars())


def validate_flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidField(field, "must be true or false")
    return value


def validate_rate_limit(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_RATE:
        raise InvalidField("rate_limit", f"deliveries per second: a whole number from 1 to {MAX_RATE}, or null")
    return value


def create_subscription(url: object, events: object, description: object = None, secret: object = None,
                        filter: object = None, headers: object = None,  # noqa: A002  (the API's names)
                        rate_limit: object = None, ordered: object = False,
                        signature: object = None) -> tuple[WebhookSubscription, str]:
    """Create and commit. Returns the row and its secret in full (show it once). Past the
    organisation's limit, raises ``LimitReached`` and stores nothing. ``signature``:
    ``standard-webhooks`` (omitted) or ``hmac-sha256``."""
    sub = WebhookSubscription(
        signature=signing.validate_scheme(signature) if signature is not None else SignatureScheme.STANDARD_WEBHOOKS,
        url=validate_url(url), events=validate_events(events), description=validate_description(description),
        secret=signing.validate_secret(secret) if secret is not None else signing.new_secret(),
        active=True, consecutive_failures=0, filter=shaping.validate_filter(filter),
        rate_limit=validate_rate_limit(rate_limit), ordered=validate_flag(ordered, "ordered"))
    sub.custom_headers = shaping.validate_headers(headers)
    limits.check_subscription_room()
    db.session.add(sub)
    db.session.commit()
    return sub, sub.secret


def update_subscription(subscription_id: int, *, url: object = _UNSET, events: object = _UNSET,
                        active: object = _UNSET, description: object = _UNSET, filter: object = _UNSET,  # noqa: A002
                        headers: object = _UNSET, rate_limit: object = _UNSET,
                        paused: object = _UNSET, ordered: object = _UNSET,
                        signature: object = _UNSET) -> WebhookSubscription:
    """Change the given fields and commit. Deactivating cancels its pending deliveries;
    re-activating clears the health streak and the disabled reason. A pause keeps making
    deliveries without sending them; resuming sends them, oldest first."""
    sub = get_subscription(subscription_id)
    if filter is not _UNSET:
        sub.filter = shaping.validate_filter(filter)
    if headers is not _UNSET:
        sub.custom_headers = shaping.validate_headers(headers, sub.custom_headers)
    if rate_limit is not _UNSET:
        sub.rate_limit = validate_rate_limit(rate_limit)
    if ordered is not _UNSET:
        sub.ordered = validate_flag(ordered, "ordered")
    if signature is not _UNSET:  # deliveries not yet sent go out signed the new way
        sub.signature = signing.validate_scheme(signature)
    resumed = False
    if paused is not _UNSET:
        if not isinstance(paused, bool):
            raise InvalidField("paused", "must be true or false")
        resumed = sub.paused and not paused
        sub.paused_at = (sub.paused_at or utcnow()) if paused else None
    if url is not _UNSET:
        sub.url = validate_url(url)
    if events is not _UNSET:
        sub.events = validate_events(events)
    if description is not _UNSET:
        sub.description = validate_description(description)
    if active is not _UNSET:
        if not isinstance(active, bool):
            raise InvalidField("active", "must be true or false")
        if active and not sub.active:
            sub.consecutive_failures, sub.first_failure_at = 0, None
            sub.disabled_at, sub.disabled_reason = None, None
        elif not active and sub.active:
            sub.disabled_at, sub.disabled_reason = utcnow(), "disabled by a user"
        sub.active = active
    sub.updated_at = utcnow()
    db.session.flush()
    if not sub.active:
        cancel_pending(sub.id, f"subscription disabled: {sub.disabled_reason or 'inactive'}")
    if resumed and sub.active:
        effects.wake(DELIVERIES)
    db.session.commit()
    return sub


def delete_subscription(subscription_id: int) -> None:
    """Delete the subscription with its deliveries and attempts."""
    sub = get_subscription(subscription_id)
    ids = select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == sub.id)
    # Explicit, so it does not depend on the database enforcing ON DELETE CASCADE (SQLite).
    db.session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
    db.session.execute(delete(Backfill).where(Backfill.subscription_id == sub.id))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id))
    db.session.delete(sub)
    db.session.commit()


def rotate_secret(subscription_id: int, secret: object = None,
                  now: datetime | None = None) -> tuple[WebhookSubscription, str]:
    """New secret now; the old one keeps signing (second signature) for 24 hours. Commits."""
    sub = get_subscription(subscription_id)
    new = signing.validate_secret(secret) if secret is not None else signing.new_secret()
    now = now or utcnow()
    sub.previous_secret, sub.previous_secret_expires_at = sub.secret, now + ROTATION_WINDOW
    sub.secret = new
    sub.updated_at = now
    db.session.commit()
    return sub, new


def delivery_counts(subscription_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """``{subscription_id: {status: count}}`` for health views (every status present, 0 if none)."""
    stmt = select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count()).group_by(
        WebhookDelivery.subscription_id, WebhookDelivery.status)
    if subscription_ids is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id.in_(subscription_ids))
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(DeliveryStatus, 0) for i in subscription_ids or []}
    for sub_id, status, n in db.session.execute(stmt):
        counts.setdefault(sub_id, dict.fromkeys(DeliveryStatus, 0))[status] = n
    return counts


def clear_expired_secrets(now: datetime | None = None) -> int:
    """Forget previous secrets whose rotation window has ended, in every organisation. Commits;
    returns how many."""
    now = now or utcnow()
    result = db.session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.previous_secret.isnot(None), WebhookSubscription.previous_secret_expires_at <= now)
        .values(previous_secret=None, previous_secret_expires_at=None)
        .execution_options(synchronize_session=False, unscoped=True))
    db.session.commit()
    return result.rowcount or 0
