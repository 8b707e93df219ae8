"""Login attempt limits, per account and per address, counted in Redis with an expiry.

Each failed attempt increments two fixed-window counters (the window starts at the first
failure). While either counter is at its limit, logins for that account or from that address
are refused without checking the password. A successful login clears the account counter.
If Redis cannot be reached the limit is not enforced (logged), so an outage does not lock
everyone out; the queue's circuit breaker keeps a dead Redis from slowing every sign-in.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from vani.extensions import redis_ext

log = logging.getLogger(__name__)

PREFIX = "vani:login"


@dataclass(frozen=True)
class Blocked:
    scope: str  # "account" | "address"
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after // 60))
        who = "this account" if self.scope == "account" else "your address"
        return (f"Too many failed sign-in attempts for {who}. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.")


def _keys(email: str, address: str | None) -> list[tuple[str, str, int]]:
    cfg = current_app.config
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = [("account", f"{PREFIX}:account:{digest}", cfg["VANI_LOGIN_MAX_PER_ACCOUNT"])]
    if address:
        keys.append(("address", f"{PREFIX}:address:{address}", cfg["VANI_LOGIN_MAX_PER_ADDRESS"]))
    return keys


def check(email: str, address: str | None) -> Blocked | None:
    """The block in force for this account or address, if any."""
    keys = _keys(email, address)
    if not redis_ext.available():
        return None
    try:
        conn = redis_ext.client
        counts = conn.mget([k for _, k, _ in keys])
        for (scope, key, limit), count in zip(keys, counts):
            if count is not None and int(count) >= limit:
                ttl = conn.ttl(key)
                return Blocked(scope, ttl if ttl and ttl > 0 else 1)
    except RedisError as exc:
        redis_ext.trip(exc)
        log.warning("login rate limit not checked, Redis unreachable: %s", exc)
    return None


def record_failure(email: str, address: str | None) -> None:
    window = current_app.config["VANI_LOGIN_WINDOW_SECONDS"]
    if not redis_ext.available():
        return
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        for _, key, _ in _keys(email, address):
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
        pipe.execute()
    except RedisError as exc:
        redis_ext.trip(exc)
        log.warning("failed login not counted, Redis unreachable: %s", exc)


def clear_account(email: str) -> None:
    if not redis_ext.available():
        return
    try:
        redis_ext.client.delete(_keys(email, None)[0][1])
    except RedisError as exc:
        redis_ext.trip(exc)
        log.warning("login counter not cleared, Redis unreachable: %s", exc)
