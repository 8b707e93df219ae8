"""Cal.com: ``X-Cal-Signature-256`` is the hex HMAC-SHA256 of the raw body with the secret."""
from __future__ import annotations

from vani.plugins.contract import RequestData, SignatureError
from vani.providers.signing import hmac_sha256_hex, matches_any

HEADER = "X-Cal-Signature-256"


def verify(data: RequestData, secrets: list[str], now: float, tolerance: int) -> None:
    signature = data.headers.get(HEADER)
    if not signature:
        raise SignatureError("missing_signature", f"the {HEADER} header is missing")
    if signature.startswith("sha256="):
        signature = signature[len("sha256="):]
    expected = [hmac_sha256_hex(secret, data.body) for secret in secrets]
    if not matches_any([signature], expected):
        raise SignatureError("invalid_signature", "the signature does not match the secret and raw body")
