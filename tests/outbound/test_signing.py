"""Standard Webhooks secrets, signatures and the five-day rule (no network)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from vani.outbound import health, signing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_five_day_rule():
    assert not health.should_disable(None, T0)
    assert not health.should_disable(T0 - timedelta(days=4, hours=23), T0)
    assert health.should_disable(T0 - timedelta(days=5), T0)


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
