"""Retry policy: when a failed item is tried again, and when it becomes a dead letter.

Pure functions: the clock and randomness are passed in, so tests need no sleeping. Schedules
and ``Retry-After`` values are read in linear time (str methods and unambiguous patterns).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

JITTER = 0.1  # each wait is stretched or shrunk by up to 10 %
RETRY_AFTER_CAP = timedelta(hours=24)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SPACE = " \t\n\r\f\v"
_NUMBER = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")  # at most 16 characters, one way to match
_SECONDS = re.compile(r"^[0-9]+$", re.ASCII)
_MAX_WAIT = timedelta(days=365)


def parse_schedule(text: str | None) -> tuple[timedelta, ...]:
    """``"5s,5m,30m,2h"`` → the waits after the 1st, 2nd, … failed attempt (a bare number is
    seconds). ValueError names the part it cannot read."""
    steps = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        step = part.lower().strip(_SPACE)
        unit = step[-1] if step[-1:] in _UNITS else ""
        number = step[:len(step) - len(unit)].rstrip(_SPACE)
        if len(number) > 16 or not _NUMBER.fullmatch(number):
            raise ValueError(f"cannot read {part.strip()!r} as a wait (use e.g. 5s, 5m, 2h)")
        steps.append(min(timedelta(seconds=float(number) * _UNITS[unit or "s"]), _MAX_WAIT))
    return tuple(steps)


def parse_retry_after(value: str | None, now: datetime, cap: timedelta = RETRY_AFTER_CAP) -> timedelta | None:
    """A ``Retry-After`` value (delay seconds or an HTTP date) as a wait between zero and ``cap``;
    None when absent or unreadable. Any header a receiver sends is safe here: huge numbers and
    far-future dates are capped, past dates mean "now", and anything else (negative numbers,
    non-ASCII digits, junk) is ignored."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if _SECONDS.match(text):
        return cap if len(text) > 9 else min(timedelta(seconds=int(text)), cap)
    if len(text) > 64 or not text.isascii():
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        wait = when - now
    except OverflowError:  # pragma: no cover - both are bounded datetimes
        return cap
    return max(timedelta(0), min(wait, cap))


@dataclass(frozen=True)
class RetryPolicy:
    """``schedule[n]`` is the wait after the (n+1)-th failed attempt; one attempt more than
    there are waits, then the item is dead."""

    schedule: tuple[timedelta, ...]
    jitter: float = JITTER
    retry_after_cap: timedelta = RETRY_AFTER_CAP

    @classmethod
    def doubling(cls, first: timedelta, cap: timedelta, attempts: int, jitter: float = JITTER) -> "RetryPolicy":
        """``first``, twice that, … at most ``cap``, for ``attempts`` attempts in all."""
        waits, wait = [], first
        for _ in range(max(attempts - 1, 0)):
            waits.append(min(wait, cap))
            wait = min(wait * 2, cap)  # never past the cap, however many attempts
        return cls(tuple(waits), jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta | None:
        """The wait after ``attempts`` failed attempts, or None when the schedule is spent."""
        if attempts < 1 or attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        if not self.jitter:
            return base
        return base * (1 + self.jitter * (2 * (rng or random).random() - 1))

    def next_attempt(self, attempts: int, now: datetime, retry_after: str | None = None,
                     rng: random.Random | None = None) -> datetime | None:
        """When to try again after ``attempts`` failed attempts (None: dead). A readable
        ``retry_after`` replaces the scheduled wait; the attempt still counts."""
        delay = self.delay(attempts, rng)
        if delay is None:
            return None
        asked = parse_retry_after(retry_after, now, self.retry_after_cap)
        return now + (asked if asked is not None else delay)
