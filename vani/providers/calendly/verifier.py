"""Calendly: ``Calendly-Webhook-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``,
HMAC-SHA256 over ``"<t>." + raw body`` with the signing key."""
from __future__ import annotations

from vani.plugins.contract import RequestData, SignatureError
from vani.providers.signing import hmac_sha256_hex, matches_any

HEADER = "Calendly-Webhook-Signature"


def parse_header(value: str) -> tuple[str | None, list[str]]:
    timestamp, signatures = None, []
    for part in value.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = val.strip()
        elif key == "v1" and val.strip():
            signatures.append(val.strip())
    return timestamp, signatures


def verify(data: RequestData, secrets: list[str], now: float, tolerance: int) -> None:
    header = data.headers.get(HEADER)
    if not header:
        raise SignatureError("missing_signature", f"the {HEADER} header is missing")
    timestamp, signatures = parse_header(header)
    if timestamp is None or not signatures:
        raise SignatureError("invalid_signature", f"{HEADER} must look like t=<unix seconds>,v1=<hex>")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("invalid_signature", "the t= timestamp is not a whole number") from None
    expected = [hmac_sha256_hex(secret, timestamp.encode() + b"." + data.body) for secret in secrets]
    if not matches_any(signatures, expected):
        raise SignatureError("invalid_signature", "no v1 signature matches the signing key and raw body")
    if abs(int(now) - ts) > tolerance:  # whole numbers: a huge t= must not overflow a float
        raise SignatureError("stale_timestamp", f"t={ts} is more than {tolerance}s from the server clock")
