"""Keeping refused webhook calls for debugging: bounded per organisation, and sampled under a flood.

Each organisation keeps at most ``VANI_REJECTED_CALLS_MAX`` records (trimming deletes only its
own oldest), so a flood at one organisation's URLs, or at the default ones, never erases
another's. Within each minute an organisation's first ``VANI_REJECTED_CALLS_PER_MINUTE`` refusals
are recorded; past that only one a second is, and the rest are only counted (the *Rejected calls*
page says how many, and ``vani_rejected_calls_unrecorded`` counts them). The counts live in Redis,
shared by every process; while Redis is unreachable each process counts on its own (bounded), so
at worst each process records its own share.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from cachetools import TTLCache
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError

from vani import metrics
from vani.extensions import db, redis_ext
from vani.models import RejectedCall
from vani.payloads.safejson import clean_text
from vani.plugins.contract import Provider

log = logging.getLogger(__name__)

COUNT_KEY = "vani:refused:{org}:{minute}"
SAMPLE_KEY = "vani:refused-sample:{org}:{second}"
UNRECORDED_KEY = "vani:refused-unrecorded:{org}:{minute}"
KEEP_SECONDS = 180  # counts outlive their minute long enough to be shown for the next one

clock = time.time  # the sampling's clock (tests move it)
# While Redis is unreachable: (org, minute) → [refusals, last sampled second, unrecorded].
_local: TTLCache[tuple[int, int], list[int]] = TTLCache(10_000, KEEP_SECONDS)
_lock = threading.Lock()


@dataclass(frozen=True)
class Unrecorded:
    """Refused calls counted but not recorded, since the start of ``since``'s minute."""
    count: int
    since: datetime


def _take_redis(org_id: int, minute: int, second: int, limit: int) -> bool:
    client = redis_ext.client
    pipe = client.pipeline(transaction=False)
    pipe.incr(COUNT_KEY.format(org=org_id, minute=minute))
    pipe.expire(COUNT_KEY.format(org=org_id, minute=minute), KEEP_SECONDS)
    if pipe.execute()[0] <= limit:
        return True
    if client.set(SAMPLE_KEY.format(org=org_id, second=second), 1, nx=True, ex=2):
        return True
    pipe = client.pipeline(transaction=False)
    pipe.incr(UNRECORDED_KEY.format(org=org_id, minute=minute))
    pipe.expire(UNRECORDED_KEY.format(org=org_id, minute=minute), KEEP_SECONDS)
    pipe.execute()
    return False


def _take_local(org_id: int, minute: int, second: int, limit: int) -> bool:
    with _lock:
        state = _local.setdefault((org_id, minute), [0, -1, 0])
        state[0] += 1
        if state[0] <= limit:
            return True
        if state[1] != second:
            state[1] = second
            return True
        state[2] += 1
        return False


def take(org_id: int) -> bool:
    """Count one refusal for the organisation; True when it is to be recorded."""
    now = clock()
    minute, second = int(now // 60), int(now)
    limit = current_app.config["VANI_REJECTED_CALLS_PER_MINUTE"]
    if redis_ext.available():
        try:
            taken = _take_redis(org_id, minute, second, limit)
            redis_ext.succeeded()
            return taken
        except RedisError as exc:
            redis_ext.trip(exc)
    return _take_local(org_id, minute, second, limit)


def unrecorded(org_id: int) -> Unrecorded | None:
    """How many of the organisation's refused calls were counted but not recorded in the current
    and the previous minute (None: none)."""
    minute = int(clock() // 60)
    minutes = [minute - 1, minute]
    counts = [0, 0]
    if redis_ext.available():
        try:
            found = redis_ext.client.mget([UNRECORDED_KEY.format(org=org_id, minute=m) for m in minutes])
            counts = [int(v or 0) for v in found]
        except RedisError as exc:
            redis_ext.trip(exc)
    with _lock:
        counts = [c + (_local.get((org_id, m)) or [0, 0, 0])[2] for c, m in zip(counts, minutes)]
    if not sum(counts):
        return None
    first = minutes[0] if counts[0] else minutes[1]
    return Unrecorded(sum(counts), datetime.fromtimestamp(first * 60, timezone.utc))


def _trim(org_id: int, keep: int) -> None:
    """Delete the organisation's records beyond its newest ``keep``."""
    table = RejectedCall.__table__
    boundary = db.session.execute(
        select(table.c.created_at, table.c.id).where(table.c.org_id == org_id)
        .order_by(table.c.created_at.desc(), table.c.id.desc()).offset(keep).limit(1)).first()
    if boundary is not None:
        db.session.execute(delete(table).where(table.c.org_id == org_id, or_(
            table.c.created_at < boundary.created_at,
            and_(table.c.created_at == boundary.created_at, table.c.id <= boundary.id))))


def record(provider: Provider, reason: str, detail: str | None, checked_url: str | None, headers: dict,
           remote_addr: str | None, body_size: int, org_id: int) -> None:
    """Keep a bounded record of a refused call (or only count it, see above); never let this
    bookkeeping fail the answer."""
    try:
        if not take(org_id):
            metrics.refusal_unrecorded(provider.name)
            return
        call = RejectedCall(
            org_id=org_id, provider=provider.name, reason=reason[:64], detail=clean_text(detail or "")[:1000] or None,
            remote_addr=remote_addr, checked_url=clean_text(checked_url)[:2048] if checked_url else None,
            headers=headers, body_size=body_size)
        db.session.add(call)
        db.session.flush()
        _trim(org_id, current_app.config["VANI_REJECTED_CALLS_MAX"])
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("could not record rejected %s call (%s): %s", provider.name, reason, exc)
