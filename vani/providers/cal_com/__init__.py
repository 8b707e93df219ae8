"""Cal.com webhooks.

Parts: ``verifier`` (the signature), the parser below, ``mapper`` with ``shapes`` and ``forms``
(bookings, meetings, routing forms), ``registrar`` (webhook registration with an API key).
"""
from __future__ import annotations

from vani.plugins.contract import BadPayload, Incoming, Outcome, Provider, RequestData, body_digest, parse_json_object
from vani.providers.cal_com import mapper, verifier
from vani.providers.cal_com.registrar import CalComRegistrar


class CalComProvider(Provider):
    name = "cal_com"
    title = "Cal.com"
    secret_settings = ("CAL_COM_WEBHOOK_SECRET",)
    relevant_headers = (verifier.HEADER, "X-Cal-Webhook-Version")
    content_types = ("application/json",)  # a declared non-JSON body is refused (415)
    handlers = mapper.HANDLERS
    registrar = CalComRegistrar

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        verifier.verify(data, secrets, now, tolerance)

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        trigger = body.get("triggerEvent")
        if not isinstance(trigger, str) or not trigger:
            raise BadPayload("missing_trigger", "the body has no 'triggerEvent'")
        idem = body.get("idempotencyKey")
        key = f"{trigger}:{idem}" if isinstance(idem, str) and idem else f"{trigger}:sha256:{body_digest(data.body)}"
        return [Incoming(event_type=trigger, dedupe_key=key, payload=body, body=data.body)]

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(self._ordered(event), ctx)

    @staticmethod
    def _ordered(event) -> dict:
        """The body as sent: the stored payload may have lost its key order (PostgreSQL's jsonb),
        and the order of form answers is the order of the questions."""
        try:
            return parse_json_object(event.body) if event.body else event.payload
        except BadPayload:
            return event.payload


provider = CalComProvider()
