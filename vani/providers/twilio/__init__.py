"""Twilio messaging webhooks (WhatsApp and SMS): inbound messages and status callbacks.

Parts: ``verifier`` (the signature over the URL and form), the parser below, ``mapper``
(conversations, messages, statuses), ``messenger`` (replies and templates).
"""
from __future__ import annotations

from flask import Response

from vani.payloads.safejson import clean_text
from vani.plugins.contract import BadPayload, Incoming, Outcome, Provider, RequestData
from vani.providers.twilio import mapper, verifier
from vani.providers.twilio.messenger import TwilioMessenger

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def message_sid(form: dict) -> str | None:
    return form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or None


class TwilioProvider(Provider):
    name = "twilio"
    title = "Twilio (WhatsApp)"
    secret_settings = ("TWILIO_AUTH_TOKEN",)
    # Twilio's forms are a few dozen short fields: anything far larger is refused before the
    # (costly) signature check.
    max_body_bytes = 64 * 1024
    max_form_fields = 200
    relevant_headers = (verifier.HEADER, "X-Twilio-Webhooks-Signature-Settings", "I-Twilio-Idempotency-Token",
                        "X-Forwarded-Proto", "X-Forwarded-Host")

    def __init__(self):
        self.messenger = TwilioMessenger(self)  # sends with the auth token it verifies calls with

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        verifier.verify(data, secrets)

    def parse(self, data: RequestData) -> list[Incoming]:
        form = data.form
        if not form:
            raise BadPayload("not_form_encoded", "Twilio posts application/x-www-form-urlencoded fields")
        sid = message_sid(form)
        if not sid:
            raise BadPayload("missing_message_sid", "the form has no MessageSid")
        status = mapper.raw_status(form)
        kind = "received" if mapper.is_inbound(form) else status
        event_type = f"{mapper.channel(form)}.message.{kind}"
        # A status callback repeats the sid with each new status: the pair names one happening.
        payload = {clean_text(k): clean_text(v) for k, v in form.items()}  # %00 decodes to NUL
        return [Incoming(event_type=event_type, dedupe_key=f"{sid}:{status}", payload=payload, body=data.body)]

    def map(self, event, ctx) -> Outcome:
        return mapper.map_event(event.payload, ctx)

    def respond(self, status: str, event_ids: list[int], extra: dict) -> Response:
        """Twilio expects TwiML: an empty ``<Response/>`` sends no reply to the customer."""
        response = Response(EMPTY_TWIML, mimetype="text/xml")
        response.headers["X-Vani-Status"] = status
        response.headers["X-Vani-Event-Ids"] = ",".join(str(i) for i in event_ids)
        if extra.get("warning"):
            response.headers["X-Vani-Warning"] = extra["warning"]
        return response


provider = TwilioProvider()
