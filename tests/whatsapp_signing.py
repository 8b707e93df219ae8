"""Signing helpers for the messaging tests: Kapso HMAC headers, Twilio signatures."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from tests.settings import SECRETS

TWILIO_PATH = "/api/webhooks/twilio"
LOCAL_TWILIO_URL = "http://vani.test" + TWILIO_PATH  # what the test client calls (SERVER_NAME)


def kapso_headers(body: bytes, event: str | None = None, idem: str | None = None, batch: bool = False,
                  secret: str | None = None, header: str = "X-Webhook-Signature") -> dict:
    secret = secret or SECRETS["KAPSO_WEBHOOK_SECRET"]
    headers = {header: hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
               "Content-Type": "application/json", "X-Webhook-Payload-Version": "v2",
               "X-Idempotency-Key": idem or str(uuid.uuid4())}
    if event:
        headers["X-Webhook-Event"] = event
    if batch:
        headers["X-Webhook-Batch"] = "true"
    return headers


def post_kapso(client, data, event: str | None = None, **kw):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return client.post("/api/webhooks/kapso", data=body, headers=kapso_headers(body, event, **kw))


def twilio_signature(url: str, body: str, token: str | None = None) -> str:
    params = MultiDict(parse_qsl(body, keep_blank_values=True))
    return RequestValidator(token or SECRETS["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)


def post_twilio(client, body: str, signed_url: str | None = None, headers: dict | None = None,
                token: str | None = None):
    """POST a form body signed for ``signed_url`` (default: the URL Vani will check)."""
    if signed_url is None:
        public = client.application.config.get("PUBLIC_URL")
        signed_url = public + TWILIO_PATH if public else LOCAL_TWILIO_URL
    all_headers = {"X-Twilio-Signature": twilio_signature(signed_url, body, token), **(headers or {})}
    return client.post(TWILIO_PATH, data=body.encode(), headers=all_headers,
                       content_type="application/x-www-form-urlencoded")
