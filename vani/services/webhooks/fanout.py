"""Fan-out: one delivery per (outbound event, matching active subscription)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from vani.extensions import db
from vani.models import DeliveryStatus, OutboundEvent, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.services.dbutil import dialect_insert
from vani.services.outbox import new_msg_id
from vani.services.webhooks import dispatch
from vani.services.webhooks.errors import Conflict, InvalidField
from vani.services.webhooks.subscriptions import get_subscription, validate_event_type

BATCH = 500
TEST_EVENT = "webhook.test"


def _delivery_rows(event: OutboundEvent, subs: list[WebhookSubscription], now: datetime) -> list[dict]:
    return [dict(outbound_event_id=event.id, subscription_id=s.id, msg_id=event.msg_id, event_type=event.type,
                 status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, manual=False, created_at=now)
            for s in subs]


def _insert_deliveries(rows: list[dict]) -> list[int]:
    """Insert, skipping (event, subscription) pairs that already have a delivery. Returns new ids."""
    if not rows:
        return []
    stmt = (dialect_insert(WebhookDelivery).values(rows)
            .on_conflict_do_nothing(index_elements=["outbound_event_id", "subscription_id"])
            .returning(WebhookDelivery.id))
    return list(db.session.execute(stmt).scalars())


def fan_out_batch(limit: int = BATCH, now: datetime | None = None) -> tuple[int, list[int]]:
    """Fan out up to ``limit`` outbox rows and commit. Returns (events handled, new delivery ids).

    Rows are locked with SKIP LOCKED on PostgreSQL so two sweepers do not collide; the unique
    (event, subscription) pair makes a repeated fan-out harmless anyway.
    """
    now = now or utcnow()
    events = list(db.session.execute(
        select(OutboundEvent).where(OutboundEvent.fanned_out.is_(False)).order_by(OutboundEvent.id)
        .limit(limit).with_for_update(skip_locked=True)).scalars())
    if not events:
        db.session.rollback()
        return 0, []
    subs = list(db.session.execute(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True))).scalars())
    rows: list[dict] = []
    for event in events:
        rows.extend(_delivery_rows(event, [s for s in subs if s.matches(event.type)], now))
    ids = _insert_deliveries(rows)
    db.session.execute(update(OutboundEvent).where(OutboundEvent.id.in_([e.id for e in events]))
                       .values(fanned_out=True).execution_options(synchronize_session=False))
    db.session.commit()
    return len(events), ids


def fan_out(now: datetime | None = None, max_batches: int = 100) -> list[int]:
    """Fan out every outbox row not yet fanned out. Returns the new delivery ids."""
    created: list[int] = []
    for _ in range(max_batches):
        handled, ids = fan_out_batch(now=now)
        created.extend(ids)
        if handled < BATCH:
            break
    return created


def _new_event(event_type: str, data: dict, key_prefix: str, now: datetime) -> OutboundEvent:
    msg_id = new_msg_id()
    event = OutboundEvent(msg_id=msg_id, type=event_type, emit_key=f"{key_prefix}:{msg_id}", data=data,
                          fanned_out=True, created_at=now)
    db.session.add(event)
    db.session.flush()
    return event


def emit_custom(event_type: object, payload: object, now: datetime | None = None) -> tuple[OutboundEvent, list[int]]:
    """Emit a custom event to every matching active subscription and commit.
    Returns the outbound event and the new delivery ids; wakes the workers."""
    event_type = validate_event_type(event_type, "event")
    if not isinstance(payload, dict):
        raise InvalidField("payload", "must be a JSON object")
    now = now or utcnow()
    event = _new_event(event_type, payload, "api", now)
    subs = list(db.session.execute(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True))).scalars())
    ids = _insert_deliveries(_delivery_rows(event, [s for s in subs if s.matches(event_type)], now))
    db.session.commit()
    if ids:
        dispatch.kick()
    return event, ids


def send_test(subscription_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one (active) subscription and commit.
    Returns the pending delivery; wakes the workers."""
    sub = get_subscription(subscription_id)
    if not sub.active:
        raise Conflict(f"subscription {sub.id} is disabled; enable it before sending a test")
    now = now or utcnow()
    event = _new_event(TEST_EVENT, {"subscription_id": sub.id, "message": "Test event from Vani."}, "test", now)
    [delivery_id] = _insert_deliveries(_delivery_rows(event, [sub], now))
    db.session.commit()
    dispatch.kick()
    return db.session.get(WebhookDelivery, delivery_id)
