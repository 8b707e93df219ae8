"""Retry policy: the schedule, jitter, Retry-After, and when a subscription is disabled.

Pure functions: time and randomness are passed in, so tests need no sleeping.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
JITTER = 0.1  # each wait is stretched or shrunk by up to 10%
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)  # a subscription failing every attempt this long is disabled
RETRY_AFTER_STATUSES = (429, 503)
GONE = 410

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STEP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_schedule(text: str) -> list[timedelta]:
    """``"5s,5m,30m,2h"`` → waits after the 1st, 2nd, … failed attempt. A bare number is seconds."""
    steps = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = _STEP.match(part.lower())
        if not match:
            raise ValueError(f"VANI_RETRY_SCHEDULE: cannot read {part.strip()!r} (use e.g. 5s, 5m, 2h)")
        steps.append(timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"]))
    return steps


def max_attempts(schedule: list[timedelta]) -> int:
    """The first try plus one per scheduled wait."""
    return len(schedule) + 1


def retry_delay(attempts: int, schedule: list[timedelta], rng: random.Random | None = None,
                jitter: bool = True) -> timedelta | None:
    """Wait before the next try after ``attempts`` failed tries, or None when the schedule is spent."""
    if attempts < 1 or attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    if not jitter:
        return base
    factor = 1 + JITTER * (2 * (rng or random).random() - 1)
    return base * factor


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Seconds or an HTTP date, capped at 24 h; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        delay = when - now
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def next_attempt(attempts: int, status_code: int | None, retry_after: str | None, now: datetime,
                 schedule: list[timedelta], rng: random.Random | None = None,
                 jitter: bool = True) -> datetime | None:
    """When to try again after a failed attempt, or None when the delivery is dead.

    ``Retry-After`` on 429/503 replaces the scheduled wait (the attempt still counts).
    """
    if status_code == GONE:
        return None
    delay = retry_delay(attempts, schedule, rng, jitter)
    if delay is None:
        return None
    if status_code in RETRY_AFTER_STATUSES:
        honoured = parse_retry_after(retry_after, now)
        if honoured is not None:
            delay = honoured
    return now + delay


def should_disable(first_failure_at: datetime | None, now: datetime) -> bool:
    """Every attempt since ``first_failure_at`` failed, for at least five days."""
    return first_failure_at is not None and now - first_failure_at >= DISABLE_AFTER
