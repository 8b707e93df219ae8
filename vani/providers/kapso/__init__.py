"""Kapso WhatsApp webhooks (v2 payloads, single or batched, and the older flat shape)."""
from __future__ import annotations

import json

from vani.providers.base import BadPayload, Incoming, Outcome, Provider, RequestData, body_digest, parse_json_object
from vani.providers.kapso import mapper, verifier

MAX_BATCH_ITEMS = 1000  # Kapso's own limit is 100


def _content_key(event: str, item: dict) -> str | None:
    """A key naming the same happening across redeliveries when no idempotency key is sent."""
    message = item.get("message")
    if isinstance(message, dict) and message.get("id"):
        return f"{event}:{message['id']}"
    if item.get("message_id"):  # older flat shape
        return f"{event}:{item['message_id']}"
    conversation = item.get("conversation")
    if isinstance(conversation, dict) and conversation.get("id"):
        return f"{event}:{conversation['id']}:{conversation.get('updated_at', '')}"
    return None


class KapsoProvider(Provider):
    name = "kapso"
    title = "Kapso (WhatsApp)"
    secret_settings = ("KAPSO_WEBHOOK_SECRET",)
    relevant_headers = ("X-Webhook-Event", "X-Webhook-Signature", "X-Kapso-Signature", "X-Idempotency-Key",
                        "X-Webhook-Batch", "X-Batch-Size", "X-Webhook-Payload-Version")

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        verifier.verify(data, secrets)

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        header_event = (data.headers.get("X-Webhook-Event") or "").strip()
        idem = (data.headers.get("X-Idempotency-Key") or "").strip()
        batch = (data.headers.get("X-Webhook-Batch") or "").strip().lower() == "true" or body.get("batch") is True
        if batch:
            return self._parse_batch(body, header_event or body.get("type"), idem)
        event = header_event or body.get("type") or body.get("event_type") or body.get("event")
        if not isinstance(event, str) or not event.strip():
            raise BadPayload("missing_event", "name the event in the X-Webhook-Event header")
        event = event.strip()
        key = f"idem:{idem}" if idem else (_content_key(event, body) or f"{event}:sha256:{body_digest(data.body)}")
        return [Incoming(event_type=event, dedupe_key=key, payload=body, body=data.body)]

    @staticmethod
    def _parse_batch(body: dict, event, idem: str) -> list[Incoming]:
        """Each item of ``data[]`` becomes its own event, stored and deduplicated on its own; an
        item that is not an object is stored too (and marked ignored), never dropping its neighbours."""
        if not isinstance(event, str) or not event.strip():
            raise BadPayload("missing_event", "name the event in X-Webhook-Event or the batch's 'type'")
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise BadPayload("missing_batch_data", "a batch body needs a non-empty 'data' list")
        if len(items) > MAX_BATCH_ITEMS:
            raise BadPayload("batch_too_large", f"a batch holds at most {MAX_BATCH_ITEMS} items")
        out = []
        for i, item in enumerate(items):
            raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
            content = _content_key(event, item) if isinstance(item, dict) else None
            key = f"idem:{idem}#{i}" if idem else (content or f"{event}:sha256:{body_digest(raw)}")
            out.append(Incoming(event_type=event.strip(), dedupe_key=key, payload=item, body=raw))
        return out

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(event.event_type, event.payload, ctx)


provider = KapsoProvider()
