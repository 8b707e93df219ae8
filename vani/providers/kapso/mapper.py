"""Kapso events → conversations, messages and their statuses (see ``vani.conversations``).

Single bodies carry no event name (it is in ``X-Webhook-Event``, stored as the event type);
``message.timestamp`` is unix seconds as a string; conversation times are ISO 8601.
"""
from __future__ import annotations

from datetime import datetime

from vani.conversations import (
    INBOUND,
    OUTBOUND,
    MessageIn,
    StatusStep,
    ensure_conversation,
    link_prospect,
    record_message,
    set_conversation_status,
    text_or_none,
)
from vani.models import ConversationStatus, MessageStatus
from vani.models.base import as_utc
from vani.payloads.phones import normalize_phone
from vani.plugins.contract import Outcome
from vani.providers.kapso import flat, workflow
from vani.providers.kapso.events import MESSAGE_STATUS, event_name, parse_time

PROVIDER = "kapso"
CONVERSATION_STATUS = {"conversation.created": ConversationStatus.ACTIVE,
                       "conversation.ended": ConversationStatus.ENDED,
                       "conversation.inactive": ConversationStatus.INACTIVE}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def map_event(event_type: str, body, ctx) -> Outcome:
    if not isinstance(body, dict):
        return Outcome.ignored("the payload is not an object")
    name = event_name(event_type)
    if isinstance(body.get("payload"), dict) and "message" not in body:
        return flat.map_flat(name, body, ctx)
    if name.startswith("message."):
        return map_message(name, body, ctx)
    if name.startswith("conversation."):
        return map_conversation(name, body, ctx)
    if name.startswith("contact."):
        return map_contact(name, body, ctx)
    if name == "workflow.execution.handoff":
        return workflow.map_handoff(body, ctx)
    return Outcome.ignored(f"Kapso event {event_type!r} is not handled")


def _content(message: dict, kapso: dict) -> tuple[str | None, list[str], dict]:
    """Text, media URLs and extras of a message of any type (``record_message`` drops what is
    not text)."""
    kind = text_or_none(message.get("type"), 32) or "text"
    part = _dict(message.get(kind))
    interactive = _dict(part.get("button_reply")) or _dict(part.get("list_reply"))
    text = (_dict(message.get("text")).get("body") or part.get("caption") or interactive.get("title")
            or (part.get("text") if kind == "button" else None)
            or _dict(kapso.get("transcript")).get("text") or (kapso.get("content") if kind == "text" else None))
    media_url = kapso.get("media_url") or _dict(kapso.get("media_data")).get("url")
    extras: dict = {}
    if kapso.get("media_data"):
        extras["media"] = {k: v for k, v in _dict(kapso["media_data"]).items() if k != "url"}
    if _dict(kapso.get("transcript")).get("text"):
        extras["transcript"] = kapso["transcript"]["text"]
    if kind == "location" and part:
        extras["location"] = part
    if kind in ("interactive", "button") and part:
        extras["reply"] = part
    return text, [media_url] if media_url else [], extras


def _steps(name: str, kapso: dict, fallback_at: datetime | None) -> list[StatusStep]:
    steps = []
    statuses = kapso.get("statuses")
    for raw in statuses if isinstance(statuses, list) else []:
        raw = _dict(raw)
        error = _dict((raw.get("errors") or [{}])[0]) if isinstance(raw.get("errors"), list) else {}
        detail = " – ".join(str(x) for x in (error.get("title"), error.get("message")) if x) or None
        steps.append(StatusStep(str(raw.get("status") or "").lower(), parse_time(raw.get("timestamp")),
                                error.get("code"), detail))
    own = MESSAGE_STATUS.get(name) or str(kapso.get("status") or "").lower()
    if own and own not in {s.status for s in steps}:
        steps.append(StatusStep(own, fallback_at))
    return steps


def map_message(name: str, body: dict, ctx) -> Outcome:
    message = _dict(body.get("message"))
    message_id = text_or_none(message.get("id"), 255)
    if not message_id:
        return Outcome.ignored("the payload has no message id")
    kapso, conv = _dict(message.get("kapso")), _dict(body.get("conversation"))
    direction = kapso.get("direction") or (INBOUND if name == "message.received" else OUTBOUND)
    direction = INBOUND if direction == INBOUND else OUTBOUND
    other_party = message.get("from") if direction == INBOUND else message.get("to")
    phone = conv.get("phone_number") or kapso.get("phone_number") or other_party
    text, media, extras = _content(message, kapso)
    message_at = parse_time(message.get("timestamp"))
    if direction == INBOUND:
        steps = [StatusStep(MessageStatus.RECEIVED, message_at or ctx.event.received_at)]
    else:
        steps = _steps(name, kapso, message_at or ctx.event.received_at)
        sent = [s.at for s in steps if s.status == MessageStatus.SENT and s.at]
        message_at = sent[0] if sent else message_at
    contacts = body.get("contacts")
    contact = _dict(contacts[0] if isinstance(contacts, list) and contacts else body.get("contact"))
    contact_name = _dict(conv.get("kapso")).get("contact_name") or _dict(contact.get("profile")).get("name")
    return record_message(ctx, MessageIn(
        provider=PROVIDER, provider_message_id=message_id, direction=direction, phone=phone,
        conversation_ref=conv.get("id"), business_ref=body.get("phone_number_id") or conv.get("phone_number_id"),
        contact_name=contact_name, type=text_or_none(message.get("type")) or "text", text=text, media_urls=media,
        data=extras, message_at=message_at, steps=steps))


def map_conversation(name: str, body: dict, ctx) -> Outcome:
    conv_body = _dict(body.get("conversation"))
    conv_id = text_or_none(conv_body.get("id"), 255)
    if not conv_id:
        return Outcome.ignored("the payload has no conversation id")
    status = CONVERSATION_STATUS.get(name) or conv_body.get("status")
    if status not in set(ConversationStatus):
        return Outcome.ignored(f"conversation event {name!r} carries no status Vani tracks")
    status = ConversationStatus(status)
    summary = _dict(conv_body.get("kapso"))
    conv = ensure_conversation(
        PROVIDER, conv_id, phone=normalize_phone(text_or_none(conv_body.get("phone_number"))),
        business_ref=body.get("phone_number_id") or conv_body.get("phone_number_id"),
        contact_name=summary.get("contact_name"), at=parse_time(conv_body.get("created_at")))
    link_prospect(ctx, conv, inbound=False, name=None)
    last = parse_time(summary.get("last_message_timestamp"))
    if last and (conv.last_message_at is None or last > as_utc(conv.last_message_at)):
        conv.last_message_at = last
    at = parse_time(conv_body.get("updated_at")) or parse_time(conv_body.get("last_active_at"))
    changed = set_conversation_status(conv, status, at)
    ctx.refer(conv_id)
    if changed:
        return Outcome.processed(f"conversation {status}")
    return Outcome.processed(f"conversation stays {conv.status} (this {status} is not newer)")


def map_contact(name: str, body: dict, ctx) -> Outcome:
    """``whatsapp.contact.*``: the body's ``contact`` creates or updates the prospect with its number."""
    conv = _dict(body.get("conversation"))
    return flat.apply_contact(name, _dict(body.get("contact")), text_or_none(conv.get("id"), 255), ctx)
