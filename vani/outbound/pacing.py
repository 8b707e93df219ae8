"""Per-subscription rate limits: at most N sends in each second, counted in Redis so every
worker shares the count. A delivery over the limit is not dropped: the engine hands it back,
due at the next second (``Claim.release(ids, next_window())``)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from redis.exceptions import RedisError

from vani.extensions import redis_ext

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
