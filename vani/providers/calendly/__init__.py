"""Calendly: webhooks (v2 API webhook subscriptions) and "Connect Calendly".

Parts: ``verifier`` (the signature), the parser below, ``mapper`` with ``shapes`` (meetings, leads,
routing forms), ``registrar`` (webhook registration with an API token), ``oauth`` and
``connection`` (the connector: OAuth tokens, the organisation's connection and its subscription),
``sync`` (the syncer: missed bookings through the API), and the pages: ``views`` (dashboard) and
``api`` (the token API's Calendly routes).
"""
from __future__ import annotations

from vani.plugins.contract import BadPayload, Incoming, Outcome, Provider, RequestData, body_digest, parse_json_object
from vani.providers.calendly import mapper, verifier
from vani.providers.calendly import sync as calendly_sync
from vani.providers.calendly.connection import CONNECTOR
from vani.providers.calendly.registrar import CalendlyRegistrar


class CalendlyProvider(Provider):
    name = "calendly"
    title = "Calendly"
    secret_settings = ("CALENDLY_WEBHOOK_SIGNING_KEY",)
    relevant_headers = (verifier.HEADER,)
    content_types = ("application/json",)  # a declared non-JSON body is refused (415)
    handlers = mapper.HANDLERS
    registrar = CalendlyRegistrar
    connector = CONNECTOR
    syncer = calendly_sync

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

    def names(self, event) -> tuple[list[str], list[str]]:
        return mapper.names(event.payload)

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(event.payload, ctx)


provider = CalendlyProvider()
