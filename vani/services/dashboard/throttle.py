"""Sign-in throttling per account and per address, in the database, with backoff.

Each attempt is counted *before* its password is checked: it takes the next slot of both its
account and its address with a compare-and-swap on the failure count, so parallel guesses cannot
slip past the limit (only one of them wins each slot). The first ``VANI_LOGIN_MAX_PER_ACCOUNT``
(or ``…_PER_ADDRESS``) attempts of a window go at once; after that each must wait, 1 min, then
2, 4 … up to ``VANI_LOGIN_MAX_DELAY_SECONDS``. Never a hard lock: the wait is bounded, and a
success clears the account and gives its address the slot back. It needs no Redis, so a Redis outage neither opens nor closes the gate.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from vani.extensions import db
from vani.models import LoginThrottle
from vani.models.base import as_utc, utcnow

BASE_DELAY = 60.0


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


def delay(failures: int, free: int, cap: float) -> timedelta:
    """How long after the last attempt the next may come, once ``failures`` are counted."""
    if failures < free:
        return timedelta(0)
    return timedelta(seconds=min(BASE_DELAY * 2 ** (failures - free), cap))


def _keys(email: str, address: str | None) -> list[tuple[str, str, int]]:
    cfg = current_app.config
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    keys = [("account", f"account:{digest}", cfg["VANI_LOGIN_MAX_PER_ACCOUNT"])]
    if address:
        keys.append(("address", f"address:{address[:64]}", cfg["VANI_LOGIN_MAX_PER_ADDRESS"]))
    return keys


def _take_slot(key: str, free: int, now: datetime) -> timedelta | None:
    """Count one attempt on ``key``; None when it may go ahead, else how long to wait."""
    cfg = current_app.config
    window = timedelta(seconds=cfg["VANI_LOGIN_WINDOW_SECONDS"])
    cap = float(cfg.get("VANI_LOGIN_MAX_DELAY_SECONDS", 900))
    row = db.session.execute(select(LoginThrottle).where(LoginThrottle.key == key)
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(key=key, failures=1, allowed_at=now + delay(1, free, cap), updated_at=now))
            return None
        except IntegrityError:  # a parallel attempt created it: this one lost the race
            return timedelta(seconds=1)
    allowed_at, seen = as_utc(row.allowed_at), row.failures
    if allowed_at > now:
        return allowed_at - now
    counted = 0 if now - as_utc(row.updated_at) > window else seen  # an old streak is forgotten
    won = db.session.execute(
        update(LoginThrottle).where(LoginThrottle.key == key, LoginThrottle.failures == seen,
                                    LoginThrottle.updated_at == row.updated_at)
        .values(failures=counted + 1, allowed_at=now + delay(counted + 1, free, cap), updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    return None if won else timedelta(seconds=1)


def begin(email: str, address: str | None, now: datetime | None = None) -> Blocked | None:
    """Count this attempt; None when its password may be checked, else why not. Commits."""
    now = now or utcnow()
    blocked = None
    for scope, key, free in _keys(email, address):
        wait = _take_slot(key, free, now)
        if wait is not None and blocked is None:
            blocked = Blocked(scope, max(int(wait.total_seconds() + 0.999), 1))
    db.session.commit()
    return blocked


def succeeded(email: str, address: str | None = None) -> None:
    """A right password: the account's streak ends, and the address gets its slot back (a team
    signing in from one office address is never slowed down by its own sign-ins)."""
    keys = _keys(email, address)
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0][1]))
    if len(keys) > 1:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == keys[1][1], LoginThrottle.failures > 0)
                           .values(failures=LoginThrottle.failures - 1).execution_options(synchronize_session=False))
    db.session.commit()
