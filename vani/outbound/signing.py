"""Standard Webhooks secrets, bodies and signatures (``webhook-id/-timestamp/-signature``)."""
from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from functools import lru_cache

from standardwebhooks import Webhook

from vani.errors import InvalidField
from vani.models.base import isoformat
from vani.version import __version__

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = f"Vani-Webhooks/{__version__}"


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def validate_secret(value: object) -> str:
    """A caller-chosen secret must be ``whsec_`` + base64 of 24 to 64 bytes."""
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise InvalidField("secret", "must be a string starting with whsec_")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("secret", "must be whsec_ followed by base64") from None
    if not 24 <= len(raw) <= 64:
        raise InvalidField("secret", "must encode between 24 and 64 random bytes")
    return value


@lru_cache(maxsize=512)
def _webhook(secret: str) -> Webhook:
    return Webhook(secret)


def sign(secrets: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """One ``v1,<base64>`` signature per secret, space-separated (both during a rotation)."""
    return " ".join(_webhook(s).sign(msg_id, timestamp, body) for s in secrets)


def event_body(msg_id: str, event_type: str, created_at: datetime, data: dict) -> str:
    """The JSON body sent to receivers; identical on every retry."""
    return json.dumps({"id": msg_id, "type": event_type, "timestamp": isoformat(created_at), "data": data},
                      separators=(",", ":"), ensure_ascii=False, default=str)


def request_headers(msg_id: str, timestamp: datetime, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
