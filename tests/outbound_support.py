"""Helpers for the outbound webhook tests."""
from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook

from vani.extensions import db
from vani.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from vani.services import outbox
from vani.services.webhooks import create_subscription, fan_out, worker


def subscribe(url: str, events=("*",), **kw) -> tuple[WebhookSubscription, str]:
    return create_subscription(url, list(events), **kw)


def emit(type_: str = "meeting.scheduled", data: dict | None = None, key: str | None = None) -> list[int]:
    """Write an outbox row as processing would, fan it out; returns the new delivery ids."""
    outbox.emit(type_, data or {"id": 1}, key or f"test:{type_}:{id(data)}:{datetime.now().timestamp()}")
    db.session.commit()
    return fan_out()


def deliver(now: datetime | None = None, rng=None) -> int:
    return worker.run_due(now=now, rng=rng)


def delivery(delivery_id: int) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def attempts(delivery_id: int) -> list[DeliveryAttempt]:
    db.session.expire_all()
    return list(db.session.query(DeliveryAttempt).filter_by(delivery_id=delivery_id).order_by(DeliveryAttempt.id))


def verify(secret: str, request) -> dict:
    """Verify a received request the way a receiver would, with the standardwebhooks library."""
    return Webhook(secret).verify(request.get_data(), dict(request.headers))
