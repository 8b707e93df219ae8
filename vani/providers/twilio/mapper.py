"""Twilio form fields → conversations, messages and statuses (see ``vani.conversations``).

Inbound: ``From`` is the customer (``whatsapp:+…``), ``To`` our number; older bodies lack
``ProfileName``/``WaId``/``MessageType``. Status callbacks: ``MessageStatus`` with ``To`` the
customer; only failed/undelivered carry ``ErrorCode``. Twilio sends no timestamps, so a step's
time is when Vani received it.
"""
from __future__ import annotations

import json

from vani.conversations import INBOUND, OUTBOUND, MessageIn, StatusStep, record_message
from vani.models import MessageStatus
from vani.payloads.phones import normalize_phone
from vani.plugins.contract import Outcome

PROVIDER = "twilio"
# Twilio's message statuses (its words) → Vani's.
STATUS = {"accepted": MessageStatus.QUEUED, "scheduled": MessageStatus.QUEUED, "queued": MessageStatus.QUEUED,
          "sending": MessageStatus.QUEUED, "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
          "read": MessageStatus.READ, "failed": MessageStatus.FAILED, "undelivered": MessageStatus.UNDELIVERED,
          "canceled": MessageStatus.FAILED, "received": MessageStatus.RECEIVED, "receiving": MessageStatus.RECEIVED}


def raw_status(form: dict) -> str:
    return (form.get("MessageStatus") or form.get("SmsStatus") or "received").strip().lower()


def is_inbound(form: dict) -> bool:
    return raw_status(form) in ("received", "receiving")


def channel(form: dict) -> str:
    address = form.get("From") or form.get("To") or ""
    return "whatsapp" if address.lower().startswith("whatsapp:") or form.get("ChannelPrefix") == "whatsapp" else "sms"


def _metadata_context(form: dict) -> dict:
    """``ChannelMetadata`` is JSON inside a form field: ``{"type":…, "data":{"context":{…}}}``."""
    try:
        meta = json.loads(form.get("ChannelMetadata") or "{}")
        context = meta.get("data", {}).get("context", {})
        return context if isinstance(context, dict) else {}
    except (ValueError, AttributeError):
        return {}


def _int(value, default: int = 0) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


def _inbound_content(form: dict) -> tuple[str, str | None, list[str], dict]:
    """Type, text, media URLs and extras of an inbound message."""
    count = min(_int(form.get("NumMedia")), 10)
    media = [form[f"MediaUrl{i}"] for i in range(count) if form.get(f"MediaUrl{i}")]
    extras: dict = {}
    types = [form.get(f"MediaContentType{i}") for i in range(count) if form.get(f"MediaContentType{i}")]
    if types:
        extras["media_types"] = types
    if form.get("Latitude") and form.get("Longitude"):
        extras["location"] = {k.lower(): form[k] for k in ("Latitude", "Longitude", "Address", "Label") if form.get(k)}
    if form.get("ButtonText") or form.get("ButtonPayload"):
        extras["button"] = {"text": form.get("ButtonText"), "payload": form.get("ButtonPayload")}
    if form.get("OriginalRepliedMessageSid"):
        extras["replied_to"] = form["OriginalRepliedMessageSid"]
    kind = form.get("MessageType")
    if not kind:
        kind = ("location" if "location" in extras else
                types[0].split("/")[0] if types else "button" if "button" in extras else "text")
    text = form.get("Body") or form.get("ButtonText") or None
    return kind, text, media, extras


def map_event(form, ctx) -> Outcome:
    if not isinstance(form, dict):
        return Outcome.ignored("the payload is not a form")
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid:
        return Outcome.ignored("the form has no MessageSid")
    status = STATUS.get(raw_status(form))
    if status is None:
        return Outcome.ignored(f"Twilio message status {raw_status(form)!r} is not handled")
    inbound = status == MessageStatus.RECEIVED
    customer, ours = (form.get("From"), form.get("To")) if inbound else (form.get("To"), form.get("From"))
    business = normalize_phone(ours) or (ours or "").split(":", 1)[-1] or None
    at = ctx.event.received_at
    if inbound:
        context = _metadata_context(form)
        kind, text, media, extras = _inbound_content(form)
        wa_id = form.get("WaId") or context.get("WaId")
        message = MessageIn(
            provider=PROVIDER, provider_message_id=sid, direction=INBOUND,
            phone=customer or (f"+{wa_id}" if wa_id else None), channel=channel(form), business_ref=business,
            contact_name=form.get("ProfileName") or context.get("ProfileName"), type=kind, text=text,
            media_urls=media, data=extras, message_at=at, steps=[StatusStep(MessageStatus.RECEIVED, at)])
    else:
        message = MessageIn(
            provider=PROVIDER, provider_message_id=sid, direction=OUTBOUND, phone=customer,
            channel=channel(form), business_ref=business, message_at=at,
            steps=[StatusStep(status, at, form.get("ErrorCode"), form.get("ErrorMessage"))])
    return record_message(ctx, message)
