"""Signing helpers for tests: sign bodies the way each provider does."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.settings import SECRETS


def calendly_headers(body: bytes, secret: str | None = None, t: int | None = None) -> dict:
    secret = secret or SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"]
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Calendly-Webhook-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def cal_com_headers(body: bytes, secret: str | None = None) -> dict:
    secret = secret or SECRETS["CAL_COM_WEBHOOK_SECRET"]
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Cal-Signature-256": sig, "Content-Type": "application/json"}


def dumps(data) -> bytes:
    return json.dumps(data).encode()


def post_calendly(client, data, **kw):
    body = data if isinstance(data, bytes) else dumps(data)
    return client.post("/api/webhooks/calendly", data=body, headers=calendly_headers(body, **kw))


def post_cal_com(client, data, **kw):
    body = data if isinstance(data, bytes) else dumps(data)
    return client.post("/api/webhooks/cal-com", data=body, headers=cal_com_headers(body, **kw))
