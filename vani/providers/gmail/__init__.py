"""Gmail push notifications (Cloud Pub/Sub push subscription).

Authenticated by a shared token on the push URL (``?token=…``) or as a Bearer token, the usual
setup for Pub/Sub push. The push says only "this mailbox changed since historyId N": fetching the
mail through the Gmail API is not built, so each event is stored and marked ignored with that
reason, the mailbox address recorded as its subject.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qs

from vani.providers.base import BadPayload, Incoming, Outcome, Provider, RequestData, SignatureError, parse_json_object
from vani.providers.safejson import load_json

IGNORED_REASON = "gmail history sync not configured"


def _token(data: RequestData) -> str | None:
    values = parse_qs(data.url.partition("?")[2].partition("#")[0]).get("token")  # no urlparse: the host may be junk
    if values and values[0]:
        return values[0]
    scheme, _, token = (data.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def decode_data(data: str) -> dict:
    """``message.data``: base64 (standard, padded in practice; URL-safe or unpadded accepted) of
    a JSON object ``{emailAddress, historyId}``."""
    text = data.strip()
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        decoded = load_json(raw)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and too deep nesting included
        raise BadPayload("invalid_data", "message.data is not base64 of a JSON object") from None
    if not isinstance(decoded, dict):
        raise BadPayload("invalid_data", "message.data must decode to a JSON object")
    return decoded


class GmailProvider(Provider):
    name = "gmail"
    title = "Gmail (Pub/Sub push)"
    secret_settings = ("GMAIL_PUSH_TOKEN",)
    relevant_headers = ()

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        token = _token(data)
        if not token:
            raise SignatureError("missing_token", "send the push token as ?token=… or Authorization: Bearer …")
        ok = False
        for secret in secrets:
            ok |= hmac.compare_digest(token.encode(), secret.encode())
        if not ok:
            raise SignatureError("invalid_token", "the push token does not match GMAIL_PUSH_TOKEN")

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        message = body.get("message")
        if not isinstance(message, dict):
            raise BadPayload("missing_message", "a Pub/Sub push body has a 'message' object")
        message_id = message.get("messageId") or message.get("message_id")
        if not isinstance(message_id, (str, int)) or not str(message_id):
            raise BadPayload("missing_message_id", "message.messageId is missing")
        if not isinstance(message.get("data"), str) or not message["data"].strip():
            raise BadPayload("missing_data", "message.data is missing")
        decoded = decode_data(message["data"])
        history = decoded.get("historyId")
        payload = {**body, "decoded": {"emailAddress": decoded.get("emailAddress"),
                                       "historyId": str(history) if history is not None else None}}
        # Pub/Sub redelivers with the same message id.
        return [Incoming(event_type="gmail.mailbox.changed", dedupe_key=f"pubsub:{message_id}",
                         payload=payload, body=data.body)]

    def map(self, event, ctx) -> Outcome:
        decoded = (event.payload or {}).get("decoded") or {}
        email = decoded.get("emailAddress")
        if isinstance(email, str) and email.strip():
            ctx.subject_email = email.strip().lower()[:320]
        return Outcome.ignored(IGNORED_REASON)


provider = GmailProvider()
