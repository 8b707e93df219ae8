"""HMAC helpers shared by the providers' verifiers."""
from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches_any(candidates: list[str], expected: list[str]) -> bool:
    """Constant-time comparison of every candidate against every expected value."""
    ok = False
    for candidate in candidates:
        for value in expected:
            ok |= hmac.compare_digest(candidate.strip().lower().encode(), value.encode())
    return ok
