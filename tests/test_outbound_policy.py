"""Retry schedule, jitter bounds, Retry-After, signatures and the rotation window (no network)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from vani.services.webhooks import policy, signing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
DEFAULT = policy.parse_schedule(policy.DEFAULT_SCHEDULE)


def test_default_schedule_parses_to_the_documented_waits():
    assert DEFAULT == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                       timedelta(hours=5), timedelta(hours=10), timedelta(hours=10)]
    assert policy.max_attempts(DEFAULT) == 8
    assert policy.parse_schedule("10, 1.5m ,2d") == [timedelta(seconds=10), timedelta(seconds=90),
                                                     timedelta(days=2)]
    with pytest.raises(ValueError, match="5x"):
        policy.parse_schedule("5s,5x")


def test_without_jitter_the_waits_follow_the_schedule_and_then_stop():
    waits = [policy.next_attempt(n, 500, None, T0, DEFAULT, jitter=False) for n in range(1, 9)]
    assert [w - T0 for w in waits[:7]] == DEFAULT
    assert waits[7] is None  # the 8th failed attempt is the last


@pytest.mark.parametrize("attempt", range(1, 8))
def test_jitter_stays_within_ten_percent_and_uses_the_random_source(attempt):
    base = DEFAULT[attempt - 1]
    low = policy.next_attempt(attempt, 500, None, T0, DEFAULT, rng=_Fixed(0.0)) - T0
    high = policy.next_attempt(attempt, 500, None, T0, DEFAULT, rng=_Fixed(0.999999)) - T0
    assert low == base * 0.9
    assert base * 1.0999 < high <= base * 1.1
    rng = random.Random(attempt)
    seen = {policy.next_attempt(attempt, 500, None, T0, DEFAULT, rng=rng) - T0 for _ in range(200)}
    assert len(seen) > 150  # really jittered
    assert all(base * 0.9 <= s <= base * 1.1 for s in seen)


class _Fixed(random.Random):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_retry_after_on_429_and_503_replaces_the_scheduled_wait():
    assert policy.next_attempt(1, 429, "120", T0, DEFAULT, jitter=False) == T0 + timedelta(seconds=120)
    http_date = "Sun, 01 Mar 2026 12:10:00 GMT"
    assert policy.next_attempt(1, 503, http_date, T0, DEFAULT, jitter=False) == T0 + timedelta(minutes=10)
    # ignored on other statuses, when unreadable, and capped at a day
    assert policy.next_attempt(1, 500, "120", T0, DEFAULT, jitter=False) == T0 + timedelta(seconds=5)
    assert policy.next_attempt(1, 429, "soon", T0, DEFAULT, jitter=False) == T0 + timedelta(seconds=5)
    assert policy.next_attempt(1, 429, "999999", T0, DEFAULT, jitter=False) == T0 + timedelta(hours=24)
    # a spent schedule stays spent, and 410 never retries
    assert policy.next_attempt(8, 429, "1", T0, DEFAULT) is None
    assert policy.next_attempt(1, 410, None, T0, DEFAULT) is None


def test_five_day_rule():
    assert not policy.should_disable(None, T0)
    assert not policy.should_disable(T0 - timedelta(days=4, hours=23), T0)
    assert policy.should_disable(T0 - timedelta(days=5), T0)


def test_generated_secrets_are_standard_webhooks_secrets():
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and secret != signing.new_secret()
    assert signing.validate_secret(secret) == secret
    for bad in ("abc", "whsec_not base64!", "whsec_" + "QUFB"):  # the last decodes to 3 bytes
        with pytest.raises(signing.InvalidField):
            signing.validate_secret(bad)


def test_signature_verifies_with_the_standardwebhooks_library_and_covers_the_body():
    secret, old = signing.new_secret(), signing.new_secret()
    now = datetime.now(timezone.utc)
    body = signing.event_body("msg_1", "meeting.scheduled", T0, {"id": 7, "name": "Zoë"})
    headers = signing.request_headers("msg_1", now, signing.sign([secret, old], "msg_1", now, body))
    assert headers["webhook-signature"].count("v1,") == 2
    assert Webhook(secret).verify(body, headers) == {"id": "msg_1", "type": "meeting.scheduled",
                                                     "timestamp": "2026-03-01T12:00:00Z",
                                                     "data": {"id": 7, "name": "Zoë"}}
    assert Webhook(old).verify(body, headers)["id"] == "msg_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("7", "8"), headers)
