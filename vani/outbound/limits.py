"""Per-organisation limits on outbound webhooks, so one tenant cannot crowd out the others'
delivery workers: subscriptions held (``VANI_MAX_SUBSCRIPTIONS``) and custom events emitted a
minute (``VANI_EMITS_PER_MINUTE``); 0 sets no limit.

Both are counted in the database, from the rows themselves, inside the transaction that adds the
new one, after locking the organisation's row: concurrent requests of one organisation, in any
process, take turns, so neither limit can be overshot, and no Redis outage opens the gate or
closes it (a Redis counter would have to choose between the two). The lock leaves the row's key
alone (PostgreSQL's ``FOR NO KEY UPDATE``), so it does not hold up the organisation's other writes:
every row that references the organisation (a webhook, a delivery) takes a key share of it.

The emit rate counts custom events only (``POST /api/v1/webhooks/deliveries``). A subscription's
test send and a backfill are neither counted nor limited here: only a caller who manages
subscriptions asks for them, they go to that one subscription, and a backfill re-sends events
already stored, in bounded batches on its own lane.

Per subscription, a rate limit: at most N sends in each second (``take``), counted in Redis
so every worker shares the count. A delivery over the limit is not dropped: the engine hands it
back, due at the next second (``Claim.release(ids, next_window())``).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from vani import tenancy
from vani.errors import LimitReached, TooManyRequests
from vani.extensions import db, redis_ext
from vani.models import Organisation, OutboundEvent, WebhookSubscription
from vani.models.base import as_utc

WINDOW = timedelta(minutes=1)
CUSTOM_PREFIX = "api"  # emit keys of custom events: "api:<msg id>"


def _lock_organisation() -> int:
    """Lock the organisation in force's row against another limit check until the transaction
    ends, leaving inserts that reference it free (PostgreSQL; SQLite serialises writers by
    itself)."""
    org_id = tenancy.require()
    db.session.execute(select(Organisation.id).where(Organisation.id == org_id).with_for_update(key_share=True))
    return org_id


def check_subscription_room() -> None:
    """Raise ``LimitReached`` when the organisation in force holds ``VANI_MAX_SUBSCRIPTIONS``."""
    limit = current_app.config["VANI_MAX_SUBSCRIPTIONS"]
    if limit <= 0:
        return
    _lock_organisation()
    held = db.session.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one()
    if held >= limit:
        db.session.rollback()
        raise LimitReached(f"an organisation may have at most {limit} subscriptions (VANI_MAX_SUBSCRIPTIONS); "
                           "delete one to add another")


def check_emit_rate(now: datetime) -> None:
    """Raise ``TooManyRequests`` when the organisation in force emitted ``VANI_EMITS_PER_MINUTE``
    custom events in the minute before ``now``."""
    limit = current_app.config["VANI_EMITS_PER_MINUTE"]
    if limit <= 0:
        return
    _lock_organisation()
    recent = (select(OutboundEvent.created_at).where(
        OutboundEvent.created_at > now - WINDOW, OutboundEvent.emit_key.like(f"{CUSTOM_PREFIX}:%"))
        .order_by(OutboundEvent.created_at.desc()).offset(limit - 1).limit(1))
    oldest_counted = db.session.execute(recent).scalar()
    if oldest_counted is None:
        return
    wait = (as_utc(oldest_counted) + WINDOW - now).total_seconds()
    db.session.rollback()
    raise TooManyRequests(f"an organisation may emit at most {limit} custom events a minute "
                          "(VANI_EMITS_PER_MINUTE); try again later", int(wait) + 1)


log = logging.getLogger(__name__)

KEY = "vani:pace:{sub}:{second}"
_local: dict[tuple[int, int], int] = {}  # while Redis is unreachable: this process's own count


def take(subscription_id: int, rate: int | None, now: float | None = None) -> bool:
    """Count one send for this second; False when the subscription's limit is already reached."""
    if not rate:
        return True
    second = int(now if now is not None else time.time())
    try:
        pipe = redis_ext.client.pipeline()
        pipe.incr(KEY.format(sub=subscription_id, second=second))
        pipe.expire(KEY.format(sub=subscription_id, second=second), 5)
        count = pipe.execute()[0]
    except RedisError as exc:
        log.warning("rate limit of subscription %s counted in this process only: %s", subscription_id, exc)
        for key in [k for k in _local if k[1] < second]:
            del _local[key]
        count = _local[(subscription_id, second)] = _local.get((subscription_id, second), 0) + 1
    return count <= rate


def next_window(now: float | None = None) -> datetime:
    """The start of the next second (when a deferred delivery is due again)."""
    second = int(now if now is not None else time.time()) + 1
    return datetime.fromtimestamp(second, timezone.utc) + timedelta(microseconds=1000)
