"""Kapso WhatsApp webhooks (v2 payloads, single or batched, and the older flat shape). The event
and its dedupe key come from the signed body (see ``events``).

Parts: ``verifier`` (the signature), the parser below with ``events``, ``mapper`` with
``workflow`` and ``flat`` (conversations, messages, statuses, contacts; ``flat``: the older flat
bodies), ``registrar`` (webhook registration per phone number), ``messenger`` (replies,
templates and read receipts) and ``api_base`` (where Kapso's API lives, whatever form its base
URL is given in).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from flask import current_app

from vani.plugins.contract import (
    BadPayload, Incoming, Outcome, Provider, RequestData, SignatureError, body_digest, parse_json_object,
)
from vani.providers.kapso import events, mapper, verifier
from vani.providers.kapso.messenger import KapsoMessenger
from vani.providers.kapso.registrar import KapsoRegistrar

MAX_BATCH_ITEMS = 1000  # Kapso's own limit is 100
FUTURE_SLACK = timedelta(hours=1)


class KapsoProvider(Provider):
    name = "kapso"
    title = "Kapso (WhatsApp)"
    secret_settings = ("KAPSO_WEBHOOK_SECRET",)
    relevant_headers = ("X-Webhook-Event", "X-Webhook-Signature", "X-Kapso-Signature", "X-Idempotency-Key",
                        "X-Webhook-Batch", "X-Batch-Size", "X-Webhook-Payload-Version")
    registrar = KapsoRegistrar
    messenger = KapsoMessenger()

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        verifier.verify(data, secrets)
        try:
            body = parse_json_object(data.body)
        except BadPayload:
            return  # parse() answers it
        items = body.get("data") if body.get("batch") is True and isinstance(body.get("data"), list) else [body]
        times = [events.newest_time(item) for item in items if isinstance(item, dict)]
        times = [t for t in times if t is not None]
        if not times:
            return
        max_age = current_app.config.get("VANI_KAPSO_MAX_AGE_SECONDS", 7 * 86400)
        newest = datetime.fromtimestamp(now, tz=timezone.utc)
        if max(times) > newest + FUTURE_SLACK or (max_age and max(times) < newest - timedelta(seconds=max_age)):
            raise SignatureError("stale_timestamp", f"the body's newest time ({max(times):%Y-%m-%d %H:%M} UTC) is "
                                 f"outside VANI_KAPSO_MAX_AGE_SECONDS of now: a replayed call")

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        header_event = (data.headers.get("X-Webhook-Event") or "").strip()[:120]
        if body.get("batch") is True or isinstance(body.get("data"), list) and isinstance(body.get("type"), str):
            return self._parse_batch(body)
        event = events.event_of(body) or header_event
        if not event:
            raise BadPayload("missing_event", "the body says nothing of its event, and X-Webhook-Event is missing")
        return [Incoming(event_type=event, dedupe_key=events.content_key(event, body, data.body), payload=body,
                         body=data.body)]

    @staticmethod
    def _parse_batch(body: dict) -> list[Incoming]:
        """Each item of ``data[]`` becomes its own event, stored and deduplicated on its own; an
        item that is not an object is stored too (and marked ignored), never dropping its neighbours."""
        event = body.get("type")
        if not isinstance(event, str) or not event.strip():
            raise BadPayload("missing_event", "a batch names its event in its 'type'")
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise BadPayload("missing_batch_data", "a batch body needs a non-empty 'data' list")
        if len(items) > MAX_BATCH_ITEMS:
            raise BadPayload("batch_too_large", f"a batch holds at most {MAX_BATCH_ITEMS} items")
        out = []
        for item in items:
            raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
            kind = (events.event_of(item) if isinstance(item, dict) else None) or event.strip()[:120]
            key = events.content_key(kind, item, raw) if isinstance(item, dict) else f"sha256:{body_digest(raw)}"
            out.append(Incoming(event_type=kind, dedupe_key=key, payload=item, body=raw))
        return out

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(event.event_type, event.payload, ctx)


provider = KapsoProvider()
