"""Sign-in throttling per account and address, in the database, with backoff that no one can
turn against the account's owner.

Each attempt is counted *before* its password is checked, on three keys, each with a
compare-and-swap on its failure count so parallel guesses cannot slip past a limit (only one of
them wins each slot):

- the **pair** (this account from this address): ``VANI_LOGIN_MAX_PER_ACCOUNT`` tries go at once;
- the **address** (every account): ``VANI_LOGIN_MAX_PER_ADDRESS`` tries go at once;
- the **account** (every address): after ``VANI_LOGIN_MAX_PER_ACCOUNT`` failures it slows only the
  addresses that have themselves failed on it, so a guesser spread over many addresses gets
  one try per address, while an address that has not failed there is never refused.

After its allowance each further try waits 1 min, then 2, 4 … up to
``VANI_LOGIN_MAX_DELAY_SECONDS``; a streak quiet for ``VANI_LOGIN_WINDOW_SECONDS`` is forgotten.
An IPv6 caller is counted by its /64. Never a hard lock: the wait is bounded. A right password clears its pair, takes its address's
failures on the account off the account's count and gives the address its slot back. It needs
no Redis, so a Redis outage neither opens nor closes the gate.
"""
from __future__ import annotations

import enum
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError

from vani.extensions import db
from vani.models import LoginThrottle
from vani.models.base import as_utc, utcnow

BASE_DELAY = 60.0
CLEAN_RETRIES = 5  # a clean address's count on the account is retried, never refused


class Scope(enum.StrEnum):
    """What an attempt waits for."""
    ACCOUNT = "account"  # this account, from this address (or from addresses that failed on it)
    ADDRESS = "address"  # this address, whatever the account


@dataclass(frozen=True)
class Blocked:
    scope: Scope
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after // 60))
        who = "this account from your address" if self.scope == Scope.ACCOUNT else "your address"
        return (f"Too many failed sign-in attempts for {who}. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.")


@dataclass(frozen=True)
class Keys:
    pair: str
    address: str | None
    account: str


def delay(failures: int, free: int, cap: float) -> timedelta:
    """How long after the last attempt the next may come, once ``failures`` are counted."""
    if failures < free:
        return timedelta(0)
    return timedelta(seconds=min(BASE_DELAY * 2 ** (failures - free), cap))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def network(address: str | None) -> str:
    """The caller's address as the throttle counts it: an IPv6 address by its /64 (whoever has one
    address has the whole /64), an IPv4-mapped IPv6 address as the IPv4 one."""
    address = (address or "").strip()[:64]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _keys(email: str, address: str | None) -> Keys:
    email = email.strip().lower()
    address = network(address)
    return Keys(pair=f"pair:{_digest(email + chr(10) + address)}",
                address=f"address:{address}" if address else None,
                account=f"account:{_digest(email)}")


def _take_slot(key: str, free: int, now: datetime, enforce: bool = True) -> tuple[timedelta | None, int]:
    """Count one attempt on ``key``: (None when it may go ahead, else how long to wait; the
    failures counted before it in this window). Not ``enforce``d, the attempt always goes ahead
    and its count is retried until it is in."""
    cfg = current_app.config
    window = timedelta(seconds=cfg["VANI_LOGIN_WINDOW_SECONDS"])
    cap = float(cfg.get("VANI_LOGIN_MAX_DELAY_SECONDS", 900))
    for _ in range(1 if enforce else CLEAN_RETRIES):
        row = db.session.execute(select(LoginThrottle).where(LoginThrottle.key == key)
                                 .execution_options(populate_existing=True)).scalar_one_or_none()
        if row is None:
            try:
                with db.session.begin_nested():
                    db.session.add(LoginThrottle(key=key, failures=1, allowed_at=now + delay(1, free, cap),
                                                 updated_at=now))
                return None, 0
            except IntegrityError:  # a parallel attempt created it: this one lost the race
                continue
        seen = row.failures
        counted = 0 if now - as_utc(row.updated_at) > window else seen  # an old streak is forgotten
        if enforce and as_utc(row.allowed_at) > now:
            return as_utc(row.allowed_at) - now, counted
        won = db.session.execute(
            update(LoginThrottle).where(LoginThrottle.key == key, LoginThrottle.failures == seen,
                                        LoginThrottle.updated_at == row.updated_at)
            .values(failures=counted + 1, allowed_at=now + delay(counted + 1, free, cap), updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if won:
            return None, counted
    return (timedelta(seconds=1) if enforce else None), 0


def _seconds(wait: timedelta) -> int:
    return max(int(wait.total_seconds() + 0.999), 1)


def begin(email: str, address: str | None, now: datetime | None = None) -> Blocked | None:
    """Count this attempt; None when its password may be checked, else why not. Commits."""
    cfg = current_app.config
    now = now or utcnow()
    keys = _keys(email, address)
    per_account = cfg["VANI_LOGIN_MAX_PER_ACCOUNT"]
    blocked = None
    wait, failed_here = _take_slot(keys.pair, per_account, now)
    if wait is not None:
        blocked = Blocked(Scope.ACCOUNT, _seconds(wait))
    if keys.address:
        wait, _ = _take_slot(keys.address, cfg["VANI_LOGIN_MAX_PER_ADDRESS"], now)
        if wait is not None and blocked is None:
            blocked = Blocked(Scope.ADDRESS, _seconds(wait))
    if blocked is None:  # a refused attempt is not a failure on the account
        # Only an address that has failed on this account waits for the account's count.
        wait, _ = _take_slot(keys.account, per_account, now, enforce=failed_here > 0)
        if wait is not None:
            blocked = Blocked(Scope.ACCOUNT, _seconds(wait))
    db.session.commit()
    return blocked


def succeeded(email: str, address: str | None = None) -> None:
    """A right password: this address's streak on the account ends and is taken off the
    account's count, and the address gets its slot back (a team signing in from one office
    address is never slowed down by its own sign-ins)."""
    keys = _keys(email, address)
    mine = db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key == keys.pair)).scalar() or 1
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys.pair))
    db.session.execute(update(LoginThrottle).where(LoginThrottle.key == keys.account)
                       .values(failures=case((LoginThrottle.failures > mine, LoginThrottle.failures - mine), else_=0))
                       .execution_options(synchronize_session=False))
    if keys.address:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == keys.address, LoginThrottle.failures > 0)
                           .values(failures=LoginThrottle.failures - 1).execution_options(synchronize_session=False))
    db.session.commit()


def purge(now: datetime | None = None) -> int:
    """Forget counts that no longer slow anyone down (quiet for the window plus the longest wait),
    so callers who never sign in cannot grow the table without bound."""
    cfg = current_app.config
    quiet = timedelta(seconds=cfg["VANI_LOGIN_WINDOW_SECONDS"] + float(cfg.get("VANI_LOGIN_MAX_DELAY_SECONDS", 900)))
    done = db.session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < (now or utcnow()) - quiet)
                              .execution_options(synchronize_session=False)).rowcount or 0
    db.session.commit()
    return done
