"""Outbound secrets, bodies and signatures: Standard Webhooks (``webhook-id/-timestamp/-signature``,
the default), or a subscription's choice of ``hmac-sha256`` (``X-Signature``: the hex HMAC-SHA256
of the raw body keyed with the subscription's secret, over ``{event, resource_id, timestamp, data}``)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from datetime import datetime
from functools import lru_cache

from standardwebhooks import Webhook

from vani.errors import InvalidField
from vani.models import SignatureScheme
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
    """The Standard Webhooks body sent to receivers; identical on every retry."""
    return body_for(SignatureScheme.STANDARD_WEBHOOKS, msg_id, event_type, created_at, data)


def validate_scheme(value: object) -> SignatureScheme:
    if not isinstance(value, str) or value not in set(SignatureScheme):
        raise InvalidField("signature", f"must be one of {', '.join(SignatureScheme)}")
    return SignatureScheme(value)


def resource_id(event_type: str, data: object) -> str | None:
    """The id of what an event is about: ``data.<family>.id`` (``data.message.id`` of a
    ``message.*``), else ``data.id`` (a prospect or a meeting), else the meeting, subscription,
    handoff or prospect it names; None when it names nothing."""
    data = data if isinstance(data, dict) else {}
    family = event_type.split(".", 1)[0]

    def of(value, key: str = "id"):
        return value.get(key) if isinstance(value, dict) else None

    for found in (of(data.get(family)), data.get("id"), of(data.get("meeting")), data.get(f"{family}_id"),
                  data.get("subscription_id"), of(data.get("handoff"), "workflow_execution_id"),
                  data.get("prospect_id"), of(data.get("prospect"))):
        if isinstance(found, (int, str)) and not isinstance(found, bool) and found != "":
            return str(found)
    return None


def payload(scheme: str, msg_id: str, event_type: str, created_at: datetime, data: dict) -> dict:
    """The body a receiver of ``scheme`` gets (what payload filters look at too)."""
    if scheme == SignatureScheme.HMAC_SHA256:
        return {"event": event_type, "resource_id": resource_id(event_type, data),
                "timestamp": isoformat(created_at), "data": data}
    return {"id": msg_id, "type": event_type, "timestamp": isoformat(created_at), "data": data}


def body_for(scheme: str, msg_id: str, event_type: str, created_at: datetime, data: dict) -> str:
    """The JSON body sent for ``scheme``; identical on every retry."""
    return json.dumps(payload(scheme, msg_id, event_type, created_at, data),
                      separators=(",", ":"), ensure_ascii=False, default=str)


def hex_signature(secret: str, body: str) -> str:
    """``hmac-sha256``: the hex HMAC-SHA256 of the raw body, keyed with the secret as written (UTF-8)."""
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def headers_for(scheme: str, secrets: list[str], msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The signed headers of one attempt. ``hmac-sha256`` signs with the current secret in
    ``X-Signature``; during a rotation ``X-Signature-Previous`` carries the previous secret's."""
    if scheme != SignatureScheme.HMAC_SHA256:
        return request_headers(msg_id, timestamp, sign(secrets, msg_id, timestamp, body))
    headers = {"x-signature": hex_signature(secrets[0], body), "x-webhook-id": msg_id,
               "content-type": "application/json", "user-agent": USER_AGENT}
    if len(secrets) > 1:
        headers["x-signature-previous"] = hex_signature(secrets[1], body)
    return headers


def request_headers(msg_id: str, timestamp: datetime, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
