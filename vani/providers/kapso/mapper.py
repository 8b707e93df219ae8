"""Kapso events → conversations, messages and their statuses (see ``vani.conversations``).

Single bodies carry no event name (it is in ``X-Webhook-Event``, stored as the event type);
``message.timestamp`` is unix seconds as a string; conversation times are ISO 8601.
"""
from __future__ import annotations

from datetime import datetime, timezone

from vani import prospects
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
from vani.payloads.coerce import as_time as iso_time
from vani.payloads.phones import normalize_phone
from vani.plugins.contract import Outcome
from vani.providers.kapso import workflow

PROVIDER = "kapso"
CONVERSATION_STATUS = {"conversation.created": ConversationStatus.ACTIVE,
                       "conversation.ended": ConversationStatus.ENDED,
                       "conversation.inactive": ConversationStatus.INACTIVE}
MESSAGE_STATUS = {"message.sent": MessageStatus.SENT, "message.delivered": MessageStatus.DELIVERED,
                  "message.read": MessageStatus.READ, "message.failed": MessageStatus.FAILED}


def event_name(event_type: str) -> str:
    """``whatsapp.message.received`` / ``message_received`` → ``message.received``."""
    name = (event_type or "").strip().lower()
    if name.startswith("whatsapp."):
        name = name[len("whatsapp."):]
    return name.replace("_", ".")


def parse_time(value) -> datetime | None:
    """Unix seconds (number or digit string) or ISO 8601, as UTC; None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) < 20 else None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return iso_time(value)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def map_event(event_type: str, body, ctx) -> Outcome:
    if not isinstance(body, dict):
        return Outcome.ignored("the payload is not an object")
    name = event_name(event_type)
    if isinstance(body.get("payload"), dict) and "message" not in body:
        return map_flat(name, body, ctx)
    if name.startswith("message."):
        return map_message(name, body, ctx)
    if name.startswith("conversation."):
        return map_conversation(name, body, ctx)
    if name.startswith("contact."):
        return map_contact(body, ctx)
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


def map_contact(body: dict, ctx) -> Outcome:
    """A contact change: fill in the name of the prospect with that number (never creates one)."""
    contact = _dict(body.get("contact"))
    phone = normalize_phone(text_or_none(contact.get("wa_id") or contact.get("phone_number") or contact.get("phone")))
    name = contact.get("name") or contact.get("display_name") or _dict(contact.get("profile")).get("name")
    prospect = prospects.find(phone=phone) if phone else None
    if prospect is None:
        return Outcome.ignored("no prospect has this contact's phone number")
    prospects.upsert(ctx, phone=phone, name=name if isinstance(name, str) else None)
    return Outcome.processed("contact details applied to the prospect")


def map_flat(name: str, body: dict, ctx) -> Outcome:
    """The older flat shape: ``{event_type, conversation_id, message_id, payload: {...}}``."""
    payload = body["payload"]
    message_id = text_or_none(body.get("message_id"), 255)
    if not message_id:
        return Outcome.ignored("the payload has no message_id")
    contact = payload.get("contact")
    contact = contact if isinstance(contact, dict) else {"name": contact} if isinstance(contact, str) else {}
    inbound = name.endswith("received")
    phone = (payload.get("from") if inbound else payload.get("to")) or contact.get("phone") or contact.get("phone_number")
    content = payload.get("content")
    text = content if isinstance(content, str) else _dict(content).get("text") or _dict(content).get("body")
    message_at = parse_time(payload.get("timestamp") or body.get("timestamp") or body.get("created_at"))
    own = MESSAGE_STATUS.get(name) or (MessageStatus.RECEIVED if inbound else MessageStatus.SENT)
    return record_message(ctx, MessageIn(
        provider=PROVIDER, provider_message_id=message_id, direction=INBOUND if inbound else OUTBOUND,
        phone=phone, conversation_ref=text_or_none(body.get("conversation_id"), 255),
        contact_name=contact.get("name"), type=payload.get("message_type") or "text", text=text,
        message_at=message_at, steps=[StatusStep(own, message_at or ctx.event.received_at)]))
