"""Kapso's older flat bodies: ``{event_type, conversation_id, message_id, payload: {...}}``.

Messages (``message_received``, ``message_sent`` …) become messages as the v2 events do;
``conversation.status_changed`` records the conversation's status; ``contact.created`` and
``contact.updated`` create or update the prospect with the contact's number (name and phone).
A contact is ``payload.contact`` (an object, or just a name) or the payload itself, named by
``name``, ``display_name`` or ``profile_name``.
"""
from __future__ import annotations

from sqlalchemy import select

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
from vani.extensions import db
from vani.models import Conversation, ConversationStatus, EventType, MessageStatus, Prospect
from vani.models.dbutil import fit
from vani.outbound import outbox
from vani.payloads.coerce import as_dict
from vani.payloads.phones import normalize_phone
from vani.plugins.contract import Outcome
from vani.providers.kapso.events import MESSAGE_STATUS, parse_time

PROVIDER = "kapso"
# The statuses a flat status change may name, as Vani tracks them.
STATUS_WORDS = {"active": ConversationStatus.ACTIVE, "open": ConversationStatus.ACTIVE,
                "reopened": ConversationStatus.ACTIVE, "ended": ConversationStatus.ENDED,
                "closed": ConversationStatus.ENDED, "resolved": ConversationStatus.ENDED,
                "inactive": ConversationStatus.INACTIVE}
CONTACT_EVENTS = ("contact.created", "contact.updated")
STATUS_EVENTS = ("conversation.status.changed", "conversation.updated")


def map_flat(name: str, body: dict, ctx) -> Outcome:
    """``name`` is the event's name as ``mapper.event_name`` spells it (``conversation.status.changed``)."""
    if name in STATUS_EVENTS:
        return map_status_change(body, ctx)
    if name in CONTACT_EVENTS:
        return map_contact(name, body, ctx)
    return map_message(name, body, ctx)


def contact_of(body: dict) -> dict:
    """The contact a flat body speaks of: ``payload.contact`` (an object or a name), else the
    payload's own contact fields."""
    payload = as_dict(body.get("payload"))
    contact = payload.get("contact")
    if isinstance(contact, str):
        return {"name": contact}
    if isinstance(contact, dict):
        return contact
    return payload


def contact_name(contact: dict) -> str | None:
    for key in ("name", "display_name", "profile_name"):
        name = text_or_none(contact.get(key), 255)
        if name:
            return name
    return text_or_none(as_dict(contact.get("profile")).get("name"), 255)


def contact_phone(contact: dict) -> str | None:
    for key in ("phone_number", "phone", "wa_id"):
        phone = normalize_phone(text_or_none(contact.get(key), 64))
        if phone:
            return phone
    return None


def map_message(name: str, body: dict, ctx) -> Outcome:
    payload = body["payload"]
    message_id = text_or_none(body.get("message_id"), 255)
    if not message_id:
        return Outcome.ignored("the payload has no message_id")
    contact = contact_of(body) if isinstance(payload.get("contact"), (dict, str)) else {}
    inbound = name.endswith("received")
    phone = (payload.get("from") if inbound else payload.get("to")) or contact.get("phone") or contact.get("phone_number")
    content = payload.get("content")
    text = content if isinstance(content, str) else as_dict(content).get("text") or as_dict(content).get("body")
    message_at = parse_time(payload.get("timestamp") or body.get("timestamp") or body.get("created_at"))
    own = MESSAGE_STATUS.get(name) or (MessageStatus.RECEIVED if inbound else MessageStatus.SENT)
    return record_message(ctx, MessageIn(
        provider=PROVIDER, provider_message_id=message_id, direction=INBOUND if inbound else OUTBOUND,
        phone=phone, conversation_ref=text_or_none(body.get("conversation_id"), 255),
        contact_name=contact_name(contact), type=payload.get("message_type") or "text", text=text,
        message_at=message_at, steps=[StatusStep(own, message_at or ctx.event.received_at)]))


def map_status_change(body: dict, ctx) -> Outcome:
    """``conversation.status_changed``: the conversation's new status, unless a newer one is recorded."""
    payload = body["payload"]
    conversation = as_dict(payload.get("conversation"))
    conv_id = text_or_none(body.get("conversation_id") or payload.get("conversation_id") or conversation.get("id"), 255)
    if not conv_id:
        return Outcome.ignored("the status change names no conversation_id")
    word = next((str(v).strip().lower() for v in (payload.get("status"), payload.get("new_status"),
                                                  conversation.get("status"), body.get("status")) if v), "")
    status = STATUS_WORDS.get(word)
    if status is None:
        return Outcome.ignored(f"conversation status {word[:40]!r} is not one Vani tracks" if word
                               else "the status change names no status")
    contact = contact_of(body) if isinstance(payload.get("contact"), (dict, str)) else {}
    phone = normalize_phone(text_or_none(payload.get("phone_number") or conversation.get("phone_number"), 64)) \
        or contact_phone(contact)
    at = next((t for t in map(parse_time, (payload.get("changed_at"), payload.get("updated_at"),
                                           payload.get("timestamp"), body.get("timestamp"),
                                           body.get("created_at"))) if t), None)
    conv = ensure_conversation(PROVIDER, conv_id, phone=phone, contact_name=contact_name(contact),
                               business_ref=text_or_none(body.get("phone_number_id") or payload.get("phone_number_id")))
    link_prospect(ctx, conv, inbound=False, name=None)
    changed = set_conversation_status(conv, status, at)
    ctx.refer(conv_id)
    if changed:
        return Outcome.processed(f"conversation {status}")
    return Outcome.processed(f"conversation stays {conv.status} (this {status} is not newer)")


def map_contact(name: str, body: dict, ctx) -> Outcome:
    return apply_contact(name, contact_of(body), text_or_none(body.get("conversation_id"), 255), ctx)


def apply_contact(name: str, contact: dict, conversation_ref: str | None, ctx) -> Outcome:
    """A contact created or updated in Kapso: the prospect with its number is created or updated.
    A name given in WhatsApp replaces one that came from WhatsApp; a name from anywhere else (a
    booking) is kept. A prospect found through the contact's conversation takes the contact's
    number when it changed."""
    phone, person = contact_phone(contact), contact_name(contact)
    prospect = _prospect_of_conversation(conversation_ref) or (prospects.find(phone=phone) if phone else None)
    if prospect is None:
        if not phone:
            return Outcome.ignored("the contact has no phone number")
        prospects.upsert(ctx, phone=phone, name=person, source=PROVIDER)
        return Outcome.processed("prospect created from the contact")
    ctx.use_prospect(prospect)
    wanted = fit(Prospect, {"phone": phone, "name": person if not prospect.name or prospect.source == PROVIDER else None})
    changes = {attr: value for attr, value in wanted.items() if value and getattr(prospect, attr) != value}
    if not changes:
        return Outcome.processed(f"the prospect already has the contact's details ({name})")
    for attr, value in changes.items():
        setattr(prospect, attr, value)
    db.session.flush()
    outbox.emit(ctx, EventType.PROSPECT_UPDATED, prospect.to_dict(), prospect.id)
    return Outcome.processed(f"prospect {' and '.join(sorted(changes))} updated from the contact")


def _prospect_of_conversation(conversation_ref: str | None) -> Prospect | None:
    if not conversation_ref:
        return None
    conv = db.session.execute(select(Conversation).where(
        Conversation.provider == PROVIDER, Conversation.provider_ref == conversation_ref)).scalar_one_or_none()
    return db.session.get(Prospect, conv.prospect_id) if conv is not None and conv.prospect_id else None
