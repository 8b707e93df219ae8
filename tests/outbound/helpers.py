"""Helpers for the outbound webhook tests."""
from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook

from tests.work.helpers import drain
from vani import tenancy
from vani.extensions import db
from vani.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.outbound import create_subscription, outbox
from vani.outbound.delivery_lane import DELIVERIES
from vani.outbound.fanout import fan_out


def subscribe(url: str, events=("*",), **kw) -> tuple[WebhookSubscription, str]:
    return create_subscription(url, list(events), **kw)


def emit(type_: str = "meeting.scheduled", data: dict | None = None, key: str | None = None) -> list[int]:
    """Write an outbound event and fan it out as processing does; returns the new delivery ids."""
    key = key or f"test:{type_}:{id(data)}:{datetime.now().timestamp()}"
    written = outbox.write([dict(type=type_, data=data or {"id": 1}, emit_key=key, org_id=tenancy.require())], utcnow())
    ids = fan_out(written)
    db.session.commit()
    return ids


def deliver(now: datetime | None = None, rng=None) -> int:
    """Send every due delivery (as of ``now``); how many were attempted."""
    return drain(DELIVERIES, now, rng)


def delivery(delivery_id: int) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def attempts(delivery_id: int) -> list[DeliveryAttempt]:
    db.session.expire_all()
    return list(db.session.query(DeliveryAttempt).filter_by(delivery_id=delivery_id).order_by(DeliveryAttempt.id))


def verify(secret: str, request) -> dict:
    """Verify a received request the way a receiver would, with the standardwebhooks library."""
    return Webhook(secret).verify(request.get_data(), dict(request.headers))
