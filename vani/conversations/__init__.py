"""Conversations and messages: what the WhatsApp mappers (Kapso, Twilio) record, and reads.

Two-way WhatsApp lives beside it: replies queued once per intent (``outgoing``), sent by the
``message_sends`` lane through the conversation's provider's messenger (``sending``), their fate written into
the conversation (``timeline``), and the rules that answer by themselves (``autoreply``, ``rules``).

Everything runs inside the inbound event's transaction and is idempotent: a message is unique
per (provider, provider message id), a status only moves up (a late ``delivered`` never replaces
``read``) while each step keeps its own timestamp, and outbound events are keyed on the message
and its status so a replay or a second copy of the same change emits nothing new.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from vani import prospects, tenancy, work
from vani.conversations import autoreply, receipts
from vani.extensions import db
from vani.models import (
    Conversation,
    ConversationStatus,
    EventType,
    Message,
    MessageDirection,
    MessageStatus,
    NotificationKind,
    Prospect,
)
from vani.models.base import as_utc
from vani.models.dbutil import insert_ignore
from vani.notifications import moments
from vani.outbound import outbox
from vani.payloads.phones import normalize_phone
from vani.payloads.safejson import clean_text
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext
from vani.work import effects

INBOUND, OUTBOUND = MessageDirection.INBOUND, MessageDirection.OUTBOUND


@dataclass
class StatusStep:
    status: MessageStatus | str  # a provider's word that is not a MessageStatus is ignored
    at: datetime | None = None
    error_code: str | None = None
    error_detail: str | None = None


@dataclass
class MessageIn:
    """One message as a provider described it, before it touches the database."""

    provider: str
    provider_message_id: str
    direction: MessageDirection
    phone: str | None  # the customer's number, any spelling
    conversation_ref: str | None = None
    channel: str = "whatsapp"
    business_ref: str | None = None
    contact_name: str | None = None
    type: str = "text"
    text: str | None = None
    media_urls: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    message_at: datetime | None = None
    steps: list[StatusStep] = field(default_factory=list)


def text_or_none(value: Any, limit: int | None = None) -> str | None:
    """A provider's value as text: strings (stripped of NUL) and numbers; anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value) if not isinstance(value, float) or math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    value = clean_text(value).strip()
    return (value[:limit] if limit else value) or None


def tidy(m: MessageIn) -> MessageIn:
    """The message with every field of the type and size its column takes: a mapper may hand
    over whatever the provider sent."""
    m.provider_message_id = text_or_none(m.provider_message_id, 255) or ""
    m.conversation_ref = text_or_none(m.conversation_ref, 255)
    m.business_ref = text_or_none(m.business_ref, 64)
    m.contact_name = text_or_none(m.contact_name, 255)
    m.type = text_or_none(m.type, 32) or "text"
    m.text = text_or_none(m.text)
    m.phone = text_or_none(m.phone, 512)
    urls = m.media_urls if isinstance(m.media_urls, list) else []
    m.media_urls = [u for u in (text_or_none(u, 2048) for u in urls) if u]
    m.data = m.data if isinstance(m.data, dict) else {}
    for step in m.steps:
        step.error_code = text_or_none(step.error_code, 32)
        step.error_detail = text_or_none(step.error_detail)
    return m


# -- conversations -------------------------------------------------------------------------
def ensure_conversation(provider: str, ref: str, *, phone: str | None, channel: str = "whatsapp",
                        business_ref: str | None = None, contact_name: str | None = None,
                        at: datetime | None = None) -> Conversation:
    """Get (row-locked on PostgreSQL) or create the conversation; fill fields it lacks.

    The lock serialises workers on one conversation, so two first messages from a new number
    create one prospect, not two.
    """
    ref = text_or_none(ref, 255) or "-"
    business_ref, contact_name = text_or_none(business_ref, 64), text_or_none(contact_name, 255)
    values = dict(org_id=tenancy.require(), provider=provider, provider_ref=ref, channel=channel[:16], phone=phone,
                  business_ref=business_ref, contact_name=contact_name, status=ConversationStatus.ACTIVE)
    if at is not None:
        values.update(created_at=at, updated_at=at)
    new_id = db.session.execute(insert_ignore(Conversation, values, ["org_id", "provider", "provider_ref"])).scalar()
    if new_id is not None and phone:
        adopt_started(provider, ref, phone, new_id)
    conv = db.session.execute(
        select(Conversation).where(Conversation.provider == provider, Conversation.provider_ref == ref)
        .with_for_update()).scalar_one()
    for attr, value in (("phone", phone), ("business_ref", business_ref), ("contact_name", contact_name)):
        if value and not getattr(conv, attr):
            setattr(conv, attr, value)
    return conv


STARTED = "started:"  # the reference of a conversation Vani started, until the provider names it


def adopt_started(provider: str, ref: str, phone: str, new_id: int) -> None:
    """A provider's first word on a conversation Vani started with this number (its template, or
    the customer's answer) names it: that conversation takes the provider's reference, and the
    row just made for it goes."""
    started = db.session.execute(select(Conversation.id).where(
        Conversation.provider == provider, Conversation.phone == phone,
        Conversation.provider_ref.startswith(STARTED)).order_by(Conversation.id).limit(1)).scalar()
    if started is not None:
        db.session.execute(delete(Conversation).where(Conversation.id == new_id))
        db.session.execute(update(Conversation).where(Conversation.id == started).values(provider_ref=ref))


def set_conversation_status(conv: Conversation, status: ConversationStatus, at: datetime | None) -> bool:
    """Apply a conversation status unless a newer one is already recorded; ``inactive`` never
    replaces ``ended``. Returns True when the status changed."""
    at, last = as_utc(at), as_utc(conv.status_changed_at)
    if at and last and at < last:
        return False
    if status == ConversationStatus.INACTIVE and conv.status == ConversationStatus.ENDED:
        return False
    if at and (last is None or at > last):
        conv.status_changed_at = at
    if conv.status == status:
        return False
    conv.status = status
    return True


def link_prospect(ctx: EventContext, conv: Conversation, inbound: bool, name: str | None) -> Prospect | None:
    """The conversation's prospect: the one already linked, else the one with this phone (also
    when first seen through a booking's reminder number), else, for a message *from* the
    number, a new prospect with that phone and profile name."""
    prospect = db.session.get(Prospect, conv.prospect_id) if conv.prospect_id else None
    if prospect is not None:
        if inbound:
            prospects.fill_name(ctx, prospect, name)
        ctx.prospect = prospect
    elif conv.phone and inbound:
        prospect = prospects.upsert(ctx, phone=conv.phone, name=name)
    elif conv.phone:
        prospect = prospects.find(phone=conv.phone)
        ctx.prospect = prospect or ctx.prospect
    if prospect is not None and conv.prospect_id != prospect.id:
        conv.prospect_id = prospect.id
    return prospect


# -- messages ------------------------------------------------------------------------------
def apply_step(msg: Message, step: StatusStep) -> bool:
    """Record a status step's time (the earliest seen) and move the status up only.
    Returns True when ``msg.status`` changed."""
    try:
        status = MessageStatus(step.status)
    except ValueError:
        return False
    column = status.step_column
    at, current = as_utc(step.at), as_utc(getattr(msg, column))
    if at and (current is None or at < current):
        setattr(msg, column, at)
    if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        msg.error_code = msg.error_code or step.error_code
        msg.error_detail = msg.error_detail or step.error_detail
    if status.rank > msg.status.rank:
        msg.status = status
        return True
    return False


def upsert_message(conv: Conversation, m: MessageIn) -> tuple[Message, bool]:
    initial = MessageStatus.RECEIVED if m.direction == INBOUND else MessageStatus.QUEUED
    new_id = db.session.execute(insert_ignore(Message, dict(
        org_id=conv.org_id, conversation_id=conv.id, provider=m.provider, provider_message_id=m.provider_message_id[:255],
        direction=m.direction, type=(m.type or "text")[:32], text=m.text, media_urls=m.media_urls,
        data=m.data, status=initial, message_at=m.message_at), ["org_id", "provider", "provider_message_id"])).scalar()
    msg = db.session.execute(select(Message).where(
        Message.provider == m.provider, Message.provider_message_id == m.provider_message_id[:255])
        .with_for_update()).scalar_one()
    if new_id is not None and m.direction == INBOUND and new_id > (conv.last_inbound_message_id or 0):
        conv.last_inbound_message_id = new_id  # unread until someone reads it
    if new_id is None:  # seen before (e.g. via a status callback): fill what it lacked
        for attr in ("text", "message_at"):
            if getattr(m, attr) and not getattr(msg, attr):
                setattr(msg, attr, getattr(m, attr))
        if m.media_urls and not msg.media_urls:
            msg.media_urls = m.media_urls
        if m.data:
            msg.data = {**m.data, **(msg.data or {})}
    return msg, new_id is not None


def event_data(msg: Message, conv: Conversation, prospect: Prospect | None, **extra) -> dict:
    return {"message": msg.to_dict(), "conversation": conv.to_dict(),
            "prospect": prospect.to_dict() if prospect else None, **extra}


def record_message(ctx: EventContext, m: MessageIn) -> Outcome:
    """Store one message (or status change) and emit/notify what changed, once."""
    m = tidy(m)
    if not m.provider_message_id:
        return Outcome.ignored("the message has no id")
    phone = normalize_phone(m.phone)
    ref = m.conversation_ref or (f"{m.channel}:{m.business_ref or ''}:{phone}" if phone else None)
    if ref is None:
        return Outcome.ignored("the message names neither a conversation nor the customer's phone number")
    conv = ensure_conversation(m.provider, ref, phone=phone, channel=m.channel, business_ref=m.business_ref,
                               contact_name=m.contact_name, at=m.message_at)
    inbound = m.direction == INBOUND
    prospect = link_prospect(ctx, conv, inbound, m.contact_name)
    msg, created = upsert_message(conv, m)
    before = msg.status
    steps = m.steps or [StatusStep(MessageStatus.RECEIVED if inbound else MessageStatus.QUEUED, m.message_at)]
    changed = False
    for step in steps:
        changed |= apply_step(msg, step)
    at = as_utc(m.message_at)
    if at and (conv.last_message_at is None or at > as_utc(conv.last_message_at)):
        conv.last_message_at = at
        if conv.status == ConversationStatus.INACTIVE:
            set_conversation_status(conv, ConversationStatus.ACTIVE, at)
    db.session.flush()
    ctx.refer(m.provider_message_id)
    if created and inbound:
        outbox.emit_keyed(ctx, EventType.MESSAGE_RECEIVED, event_data(msg, conv, prospect),
                          f"{EventType.MESSAGE_RECEIVED}:{msg.id}")
        if conv.assignee_id is None:  # an assigned conversation is its assignee's to answer
            kind = NotificationKind.MESSAGE_RECEIVED
            moments.notify(ctx, kind, f"{kind}:{m.provider}:{m.provider_message_id}", prospect=prospect, data={
                "text": (msg.text or "")[:1000], "type": msg.type, "media_count": len(msg.media_urls or []),
                "phone": conv.phone, "contact_name": conv.contact_name, "provider": m.provider,
                "conversation_id": conv.id, "message_id": msg.id})
        if autoreply.answer(conv, msg, ctx.received_at) is not None:
            effects.wake(work.get("message_sends"))
        if receipts.on_arrival(conv, msg):
            effects.wake(work.get("message_sends"))
    effects.publish(ctx.org_id, f"conversation:{conv.id}")
    if changed:
        outbox.emit_keyed(ctx, EventType.MESSAGE_STATUS_UPDATED,
                          event_data(msg, conv, prospect, previous_status=before),
                          f"{EventType.MESSAGE_STATUS_UPDATED}:{msg.id}:{msg.status}")
    if created:
        return Outcome.processed(f"{m.direction} message stored ({msg.status})")
    return Outcome.processed(f"message now {msg.status}" if changed else f"message already {msg.status}")


# -- reads ---------------------------------------------------------------------------------
def get_conversation(conversation_id: int) -> Conversation | None:
    return db.session.get(Conversation, conversation_id)


def conversations_for_prospect(prospect_id: int) -> list[Conversation]:
    return list(db.session.execute(
        select(Conversation).where(Conversation.prospect_id == prospect_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())).scalars())


def recent_messages(conversation_ids: list[int], limit: int = 200) -> list[Message]:
    """The last ``limit`` messages of these conversations, oldest first."""
    if not conversation_ids:
        return []
    rows = db.session.execute(
        select(Message).where(Message.conversation_id.in_(conversation_ids))
        .order_by(Message.message_at.desc().nulls_last(), Message.id.desc()).limit(limit)).scalars()
    return list(reversed(list(rows)))


def messages_for_prospect(prospect_id: int, limit: int = 200) -> list[Message]:
    """A prospect's messages across all conversations, for the timeline (oldest first)."""
    return recent_messages([c.id for c in conversations_for_prospect(prospect_id)], limit)
