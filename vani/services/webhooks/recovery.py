"""Sweeper side of deliveries: take back expired leases, find what is due and when."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from vani.extensions import db
from vani.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from vani.models.base import as_utc, utcnow
from vani.services.webhooks import dispatch, policy, results
from vani.services.webhooks.worker import Settings

LOST = "worker stopped during the attempt (lease expired); queued again"


def requeue_expired(now: datetime | None = None, settings: Settings | None = None, limit: int = 1000) -> list[int]:
    """Deliveries whose ``delivering`` lease ran out (the worker died): record the lost attempt,
    queue them again now (or fail them when the schedule is spent). Commits; returns their ids."""
    now = now or utcnow()
    settings = settings or Settings.from_app()
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookSubscription.url)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.status == DeliveryStatus.DELIVERING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.id).limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)).all()
    if not rows:
        db.session.rollback()
        return []
    limit_attempts = policy.max_attempts(settings.schedule)
    attempts, states = [], []
    for delivery_id, count, url in rows:
        number = count + 1
        attempts.append(dict(delivery_id=delivery_id, number=number, trigger="lost", url=url, request_headers={},
                             status_code=None, response_body=None, duration_ms=0, error=LOST, success=False,
                             created_at=now))
        dead = number >= limit_attempts
        states.append(results.state(delivery_id, DeliveryStatus.FAILED if dead else DeliveryStatus.PENDING, number,
                                    None if dead else now, now, None, LOST))
    results.write_attempts(attempts)
    results.write_states(states)
    db.session.commit()
    ids = [r[0] for r in rows]
    dispatch.publish_deliveries(ids)
    return ids


def cancel_orphans() -> int:
    """Cancel waiting deliveries whose subscription is disabled (normally done when disabling). Commits."""
    inactive = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(False))
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.subscription_id.in_(inactive))
        .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error="subscription disabled")
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def soonest_due() -> datetime | None:
    """The earliest ``next_attempt_at`` among pending deliveries of active subscriptions."""
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    value = db.session.execute(select(func.min(WebhookDelivery.next_attempt_at)).where(
        WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.subscription_id.in_(active))).scalar()
    db.session.rollback()
    return as_utc(value)
