"""The retry policy every lane shares: schedules, jitter, attempts, and Retry-After from any receiver."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from vani.outbound.delivery_lane import DEFAULT_SCHEDULE
from vani.work.policy import RetryPolicy, parse_retry_after, parse_schedule

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
DEFAULT = RetryPolicy(parse_schedule(DEFAULT_SCHEDULE), jitter=0.0)
CAP = timedelta(hours=24)


def test_default_schedule_parses_to_the_documented_waits():
    assert DEFAULT.schedule == (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                                timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
    assert DEFAULT.max_attempts == 8
    assert parse_schedule("10, 1.5m ,2d") == (timedelta(seconds=10), timedelta(seconds=90), timedelta(days=2))
    assert parse_schedule("") == ()
    for bad in ("5s,5x", "٣s", "1e9s", "-5s"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_without_jitter_the_waits_follow_the_schedule_and_then_stop():
    waits = [DEFAULT.next_attempt(n, T0) for n in range(1, 9)]
    assert tuple(w - T0 for w in waits[:7]) == DEFAULT.schedule
    assert waits[7] is None  # the 8th failed attempt is the last
    assert DEFAULT.next_attempt(0, T0) is None and DEFAULT.next_attempt(99, T0) is None


def test_doubling_policy_for_events():
    policy = RetryPolicy.doubling(timedelta(seconds=30), timedelta(hours=1), 10, jitter=0.0)
    assert [w.total_seconds() for w in policy.schedule] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert policy.max_attempts == 10
    assert RetryPolicy.doubling(timedelta(seconds=30), timedelta(hours=1), 1).max_attempts == 1


class _Fixed(random.Random):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("attempt", range(1, 8))
def test_jitter_stays_within_ten_percent_and_uses_the_random_source(attempt):
    policy = RetryPolicy(DEFAULT.schedule)
    base = DEFAULT.schedule[attempt - 1]
    assert policy.next_attempt(attempt, T0, rng=_Fixed(0.0)) - T0 == base * 0.9
    high = policy.next_attempt(attempt, T0, rng=_Fixed(0.999999)) - T0
    assert base * 1.0999 < high <= base * 1.1
    rng = random.Random(attempt)
    seen = {policy.next_attempt(attempt, T0, rng=rng) - T0 for _ in range(200)}
    assert len(seen) > 150 and all(base * 0.9 <= s <= base * 1.1 for s in seen)


def test_retry_after_replaces_the_scheduled_wait_and_a_spent_schedule_stays_spent():
    assert DEFAULT.next_attempt(1, T0, "120") == T0 + timedelta(seconds=120)
    assert DEFAULT.next_attempt(1, T0, "Sun, 01 Mar 2026 12:10:00 GMT") == T0 + timedelta(minutes=10)
    assert DEFAULT.next_attempt(1, T0, "soon") == T0 + timedelta(seconds=5)
    assert DEFAULT.next_attempt(8, T0, "1") is None


@pytest.mark.parametrize("value, expected", [
    ("0", timedelta(0)),
    ("120", timedelta(seconds=120)),
    (" 30 ", timedelta(seconds=30)),
    ("99999999999999999999", CAP),                      # huge: capped, never an overflow
    ("9" * 5000, CAP),
    ("86401", CAP),
    ("-5", None),                                        # negative: not a delay
    ("٣٠", None),                                        # Arabic-Indic digits are digits to Python, not to HTTP
    ("１２０", None),                                     # full-width digits
    ("1.5", None),
    ("1e3", None),
    ("", None),
    (None, None),
    ("Sun, 01 Mar 2026 12:10:00 GMT", timedelta(minutes=10)),
    ("Sat, 01 Jan 2000 00:00:00 GMT", timedelta(0)),     # long past: now
    ("Fri, 31 Dec 9999 23:59:59 GMT", CAP),              # far future: capped
    ("Mon, 01 Jan 0001 00:00:00 GMT", timedelta(0)),
    ("Sun, 99 Foo 2026 12:10:00 GMT", None),
    ("Sun, 01 Mar 99999999 12:10:00 GMT", None),
    ("x" * 10000, None),
])
def test_retry_after_edge_values_are_safe(value, expected):
    assert parse_retry_after(value, T0) == expected
    # And the policy built on it never raises and never schedules beyond the cap.
    nxt = DEFAULT.next_attempt(1, T0, value)
    assert T0 <= nxt <= T0 + CAP
