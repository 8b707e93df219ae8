"""Calendly webhooks (v2 API webhook subscriptions)."""
from __future__ import annotations

from vani.providers.base import BadPayload, Incoming, Outcome, Provider, RequestData, body_digest, parse_json_object
from vani.providers.calendly import mapper, verifier


class CalendlyProvider(Provider):
    name = "calendly"
    title = "Calendly"
    secret_settings = ("CALENDLY_WEBHOOK_SIGNING_KEY",)
    relevant_headers = (verifier.HEADER,)
    content_types = ("application/json",)  # a declared non-JSON body is refused (415)

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        verifier.verify(data, secrets, now, tolerance)

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        event = body.get("event")
        if not isinstance(event, str) or not event:
            raise BadPayload("missing_event", "the body has no 'event' name")
        if not isinstance(body.get("payload"), dict):
            raise BadPayload("missing_payload", "the body has no 'payload' object")
        uri = body["payload"].get("uri")
        # A redelivery carries the same event, resource and creation time.
        if isinstance(uri, str) and uri:
            key = f"{event}:{uri}:{body.get('created_at', '')}"
        else:
            key = f"{event}:sha256:{body_digest(data.body)}"
        return [Incoming(event_type=event, dedupe_key=key, payload=body, body=data.body)]

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(event.payload, ctx)


provider = CalendlyProvider()
