"""Kapso: ``X-Webhook-Signature`` (or ``X-Kapso-Signature``) is the hex HMAC-SHA256 of the raw
body with the webhook's secret key."""
from __future__ import annotations

from vani.plugins.contract import RequestData, SignatureError
from vani.providers.signing import hmac_sha256_hex, matches_any

HEADERS = ("X-Webhook-Signature", "X-Kapso-Signature")


def verify(data: RequestData, secrets: list[str]) -> None:
    given = [data.headers.get(name) for name in HEADERS]
    given = [value.strip() for value in given if value and value.strip()]
    if not given:
        raise SignatureError("missing_signature", "the X-Webhook-Signature header is missing")
    # Some senders prefix the algorithm ("sha256=<hex>").
    given = [value.split("=", 1)[1] if value.lower().startswith("sha256=") else value for value in given]
    expected = [hmac_sha256_hex(secret, data.body) for secret in secrets]
    if not matches_any(given, expected):
        raise SignatureError("invalid_signature",
                             "the signature does not match the webhook secret and the raw body")
