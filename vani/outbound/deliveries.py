"""Looking up deliveries and retrying them by hand (API, dashboard, CLI)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select, update

from vani.errors import Conflict, InvalidField, NotFound, check_id
from vani.extensions import db
from vani.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.outbound.delivery_lane import DELIVERIES
from vani.outbound.subscriptions import get_subscription
from vani.work import effects

RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


def delivery_query(event: str | None = None, status: str | None = None, subscription_id: int | None = None,
                   since: datetime | None = None, msg_id: str | None = None,
                   until: datetime | None = None) -> Select:
    """``select(WebhookDelivery)`` filtered (``since`` inclusive, ``until`` exclusive, on the
    creation time); the caller orders/paginates (newest: created_at, id)."""
    stmt = select(WebhookDelivery)
    if event:
        stmt = stmt.where(WebhookDelivery.event_type == event)
    if status:
        if status not in DeliveryStatus.__members__.values():
            raise InvalidField("status", f"must be one of {', '.join(DeliveryStatus)}")
        stmt = stmt.where(WebhookDelivery.status == status)
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    if since is not None:
        stmt = stmt.where(WebhookDelivery.created_at >= since)
    if until is not None:
        stmt = stmt.where(WebhookDelivery.created_at < until)
    if msg_id:
        stmt = stmt.where(WebhookDelivery.msg_id == msg_id)
    return stmt


def list_deliveries(limit: int = 50, **filters) -> list[WebhookDelivery]:
    """Newest first; ``filters`` as for ``delivery_query``."""
    stmt = delivery_query(**filters).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return list(db.session.execute(stmt.limit(limit)).scalars())


def get_delivery(delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, check_id(delivery_id, "delivery"))
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


def list_attempts(delivery_id: int) -> list[DeliveryAttempt]:
    """The delivery's attempts, oldest first."""
    return list(db.session.execute(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                   .order_by(DeliveryAttempt.id)).scalars())


def status_counts(subscription_id: int | None = None, since: datetime | None = None) -> dict[str, int]:
    """``{status: count}`` over all deliveries (or one subscription's / since a time)."""
    stmt = select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    if since is not None:
        stmt = stmt.where(WebhookDelivery.created_at >= since)
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update({status: n for status, n in db.session.execute(stmt)})
    return counts


def retry_delivery(delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Queue one delivery for an attempt now, whatever its state but ``delivering``, and commit.
    The attempt is recorded like any other (trigger ``manual``). Wakes the workers.

    Raises NotFound, or Conflict when it is being delivered right now or its subscription is disabled.
    """
    delivery = get_delivery(delivery_id)
    if delivery.status == DeliveryStatus.DELIVERING:
        raise Conflict(f"delivery {delivery_id} is being delivered right now")
    sub = db.session.get(WebhookSubscription, delivery.subscription_id)
    if sub is None or not sub.active:
        raise Conflict(f"subscription {delivery.subscription_id} is disabled; enable it before retrying")
    now = now or utcnow()
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != DeliveryStatus.DELIVERING)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, manual=True)
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        effects.wake(DELIVERIES)
    db.session.commit()
    if result.rowcount != 1:
        raise Conflict(f"delivery {delivery_id} is being delivered right now")
    return db.session.get(WebhookDelivery, delivery_id, populate_existing=True)


def _retryable(status: str, filters: dict) -> Select:
    """Deliveries in ``status`` (failed or cancelled) matching ``filters`` (as for
    ``delivery_query``), of active subscriptions only."""
    if status not in RETRYABLE:
        raise InvalidField("status", f"must be one of {', '.join(RETRYABLE)}")
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    return delivery_query(status=status, **filters).where(WebhookDelivery.subscription_id.in_(active))


def count_retryable(status: str = DeliveryStatus.FAILED, **filters) -> int:
    """How many deliveries ``retry_failed`` with the same arguments would re-queue."""
    stmt = _retryable(status, filters).with_only_columns(func.count(WebhookDelivery.id))
    return db.session.execute(stmt).scalar_one()


def retry_failed(status: str = DeliveryStatus.FAILED, since: datetime | None = None,
                 subscription_id: int | None = None, now: datetime | None = None, **filters) -> int:
    """Re-queue every ``failed`` (or ``cancelled``) delivery created since ``since``, optionally
    for one subscription (or narrowed by ``event``/``until``, as for ``delivery_query``),
    skipping disabled subscriptions. Each is recorded as a manual attempt when sent. Commits,
    wakes the workers and returns how many were re-queued."""
    if subscription_id is not None:
        get_subscription(subscription_id)  # NotFound
    now = now or utcnow()
    stmt = _retryable(status, dict(filters, since=since, subscription_id=subscription_id))
    ids = list(db.session.execute(stmt.with_only_columns(WebhookDelivery.id)).scalars())
    done = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        result = db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(chunk), WebhookDelivery.status == status)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=now, manual=True)
            .execution_options(synchronize_session=False))
        done += result.rowcount or 0  # one retried by hand meanwhile is not counted twice
    if done:
        effects.wake(DELIVERIES)
    db.session.commit()
    return done
