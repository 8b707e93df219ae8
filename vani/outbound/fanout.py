"""Fan-out: one delivery per (outbound event, matching active subscription of the event's own
organisation), created in the transaction that wrote the event, so an event is never emitted
without its deliveries, and never to another organisation's subscribers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from vani import tenancy, work
from vani.errors import Conflict, InvalidField
from vani.extensions import db
from vani.models import DeliveryStatus, EventType, OutboundEvent, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.models.dbutil import dialect_insert
from vani.outbound import limits, outbox, shaping, signing
from vani.outbound.subscriptions import get_subscription, validate_event_type
from vani.payloads.safejson import clean
from vani.work import effects

TEST_EVENT = EventType.WEBHOOK_TEST


def wants(sub: WebhookSubscription, event: dict) -> bool:
    """Whether ``sub`` wants this outbound event: its type, then its payload filter on the body
    its receiver gets (``id``, ``type``, ``timestamp``, ``data``; with the ``hmac-sha256``
    signature ``event``, ``resource_id``, ``timestamp``, ``data``)."""
    if not sub.matches(event["type"]):
        return False
    if not sub.filter:
        return True
    body = signing.payload(sub.signature, event["msg_id"], event["type"], event["created_at"], event["data"])
    return shaping.matches(sub.filter, body)


def ordering_key(event: dict) -> str | None:
    """The prospect an event is about (``data.prospect_id``, or ``data.id`` of a prospect event):
    an ordered subscription sends one prospect's deliveries in event order."""
    data = event["data"] if isinstance(event["data"], dict) else {}
    key = data.get("id") if event["type"].startswith("prospect.") else data.get("prospect_id")
    return str(key)[:64] if isinstance(key, (int, str)) and not isinstance(key, bool) and key != "" else None


def delivery_rows(event: dict, subs: list[WebhookSubscription], now: datetime, matching: bool = True) -> list[dict]:
    key = ordering_key(event)
    return [dict(org_id=event["org_id"], outbound_event_id=event["id"], subscription_id=s.id, msg_id=event["msg_id"],
                 event_type=event["type"], status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
                 manual=False, created_at=now, ordering_key=key)
            for s in subs if s.org_id == event["org_id"] and (not matching or wants(s, event))]


def insert_deliveries(rows: list[dict]) -> list[int]:
    """Insert, skipping (event, subscription) pairs that already have a delivery. Returns new ids
    (their lane is woken when the transaction commits)."""
    if not rows:
        return []
    stmt = (dialect_insert(WebhookDelivery).on_conflict_do_nothing(
        index_elements=["outbound_event_id", "subscription_id"]).returning(WebhookDelivery.id))
    ids = sorted(db.session.execute(stmt, rows).scalars())
    if ids:
        effects.wake(deliveries_lane())
    return ids


def active_subscriptions(org_ids: set[int]) -> list[WebhookSubscription]:
    return list(db.session.execute(select(WebhookSubscription).where(
        WebhookSubscription.active.is_(True), WebhookSubscription.org_id.in_(org_ids))
        .execution_options(unscoped=True)).scalars())


def fan_out(events: list[dict], now: datetime | None = None) -> list[int]:
    """Deliveries for freshly written outbound events (``outbox.write``'s dicts, of any
    organisations), no commit. Returns the new delivery ids."""
    if not events:
        return []
    now = now or utcnow()
    subs = active_subscriptions({e["org_id"] for e in events})
    rows = [row for event in events for row in delivery_rows(event, subs, now)]
    return insert_deliveries(rows)


def _new_event(event_type: str, data: dict, key_prefix: str, now: datetime) -> dict:
    """An outbound event of the organisation in force."""
    msg_id = outbox.new_msg_id()
    org_id = tenancy.require()
    event = OutboundEvent(org_id=org_id, msg_id=msg_id, type=event_type, emit_key=f"{key_prefix}:{msg_id}",
                          data=data, created_at=now)
    db.session.add(event)
    db.session.flush()
    return {"id": event.id, "org_id": org_id, "msg_id": msg_id, "type": event_type, "data": data, "created_at": now}


def emit_custom(event_type: object, payload: object, now: datetime | None = None) -> tuple[dict, list[int]]:
    """Emit a custom event to every matching active subscription, commit and wake the delivery
    workers. Returns the event and the new delivery ids. Over the organisation's rate, raises
    ``TooManyRequests`` and stores nothing."""
    event_type = validate_event_type(event_type, "event")
    if not isinstance(payload, dict):
        raise InvalidField("payload", "must be a JSON object")
    payload = clean(payload)  # no NUL characters or lone surrogates reach the database or a receiver
    now = now or utcnow()
    limits.check_emit_rate(now)
    event = _new_event(event_type, payload, limits.CUSTOM_PREFIX, now)
    ids = fan_out([event], now)
    db.session.commit()
    return event, ids


def send_test(subscription_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one (active) subscription, commit and wake the
    delivery workers. Returns the pending delivery."""
    sub = get_subscription(subscription_id)
    if not sub.active:
        raise Conflict(f"subscription {sub.id} is disabled; enable it before sending a test")
    now = now or utcnow()
    event = _new_event(TEST_EVENT, {"subscription_id": sub.id, "message": "Test event from Vani."}, "test", now)
    [delivery_id] = insert_deliveries(delivery_rows(event, [sub], now, matching=False))
    db.session.commit()
    return db.session.get(WebhookDelivery, delivery_id)


def deliveries_lane() -> work.Lane:
    from vani.outbound.delivery_lane import DELIVERIES  # the delivery worker fans out too

    return DELIVERIES
