"""Queueing what Vani sends in a conversation: replies and read receipts, once per intent.

A reply is an outbound ``Message`` (status ``queued``, shown at once) and a ``MessageSend`` the
``message_sends`` lane works through. The send's ``intent_key`` is unique per organisation, so
the same ``Idempotency-Key``, form nonce or inbound message can never queue a second send;
reusing a key for a different body is refused. Free text is refused outside WhatsApp's 24-hour
service window before anyone is called.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from vani import tenancy, work
from vani.errors import Conflict, InvalidField, NotFound
from vani.extensions import db
from vani.models import Conversation, Message, MessageDirection, MessageStatus
from vani.models.base import as_utc, utcnow
from vani.models.dbutil import insert_new
from vani.models.idempotency import KeyReused
from vani.models.replies import MessageSend, OutgoingStatus, SendKind
from vani.payloads.safejson import clean
from vani.plugins.messaging import MEDIA, media_problem
from vani.work import effects

WINDOW = timedelta(hours=24)
MAX_TEXT = 4096  # WhatsApp's limit for a text body
PLACEHOLDER = "vani:"  # a queued reply's message id until the provider names it
SENDABLE = ("kapso", "twilio")


class OutsideWindow(Conflict):
    code = "outside_service_window"


def last_inbound_at(conversation_id: int) -> datetime | None:
    found = db.session.execute(select(func.max(func.coalesce(Message.message_at, Message.created_at))).where(
        Message.conversation_id == conversation_id, Message.direction == MessageDirection.INBOUND)).scalar()
    return as_utc(found)


def window_open(conversation_id: int, now: datetime | None = None) -> bool:
    """True within 24 hours of the customer's last message (free text allowed)."""
    last = last_inbound_at(conversation_id)
    return last is not None and (now or utcnow()) - last < WINDOW


def _text(value, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(field, "give a non-empty string")
    if len(value) > limit:
        raise InvalidField(field, f"at most {limit} characters")
    return value.strip()


MAX_VALUES, MAX_VALUE, MAX_NAME = 50, 1024, 64


def template_values(variables) -> list[str] | dict[str, str]:
    """A template's values, checked: a list (the body's, in order) or an object by name (see
    ``plugins.messaging``), each at most ``MAX_VALUE`` characters (a media link ``MAX_LINK``).
    Too long is refused, never cut."""
    if isinstance(variables, Mapping):
        names, values = [str(k) for k in variables], list(variables.values())
    elif isinstance(variables, list):
        names, values = [], variables
    else:
        raise InvalidField("template.variables", "a list or an object of values")
    if len(values) > MAX_VALUES or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                           for v in values):
        raise InvalidField("template.variables", f"at most {MAX_VALUES} text or number values")
    if any(len(n) > MAX_NAME for n in names):
        raise InvalidField("template.variables", f"a value's name is at most {MAX_NAME} characters")
    texts = [str(v) for v in values]
    for name, text in zip(names or [""] * len(texts), texts):
        if name.startswith(MEDIA):
            problem = media_problem(name, text)
            if problem:
                raise InvalidField("template.variables", problem)
        elif len(text) > MAX_VALUE:
            raise InvalidField("template.variables", f"{name or 'a value'} is longer than {MAX_VALUE} characters")
    return dict(zip(names, texts)) if isinstance(variables, Mapping) else texts


def parse_payload(body) -> dict:
    """``{"text": …}`` or ``{"template": {"name", "language", "variables"}}``, checked."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "send a JSON object with 'text' or 'template'")
    body = clean(dict(body))  # no NUL characters or lone surrogates reach the provider or the database
    if ("text" in body) == ("template" in body):
        raise InvalidField("body", "give exactly one of 'text' and 'template'")
    if "text" in body:
        return {"text": _text(body["text"], "text", MAX_TEXT)}
    t = body["template"]
    if not isinstance(t, Mapping):
        raise InvalidField("template", "an object with 'name', 'language' and optional 'variables'")
    variables = template_values(t.get("variables") or [])
    language = t.get("language") or "en"
    return {"template": {"name": _text(t.get("name"), "template.name", 512),
                         "language": _text(language, "template.language", 16), "variables": variables}}


def request_hash(payload: Mapping) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def describe(payload: Mapping) -> str:
    """What a reply says, as the conversation shows it."""
    if "text" in payload:
        return payload["text"]
    t = payload["template"]
    variables = t.get("variables") or []
    values = list(variables.values()) if isinstance(variables, Mapping) else variables
    return f"[template {t['name']}]" + (f" {', '.join(values)}" if values else "")


def _existing(intent_key: str) -> MessageSend | None:
    return db.session.execute(select(MessageSend).where(MessageSend.intent_key == intent_key)).scalar_one_or_none()


def queue_reply(conv: Conversation, payload: dict, intent_key: str, *, origin: str, user_id: int | None = None,
                rule_id: int | None = None, check_window: bool = True) -> tuple[Message, bool]:
    """Queue a reply in ``conv`` once per ``intent_key`` (no commit). Returns (message, created);
    a repeat of the same intent returns the first message."""
    if conv.provider not in SENDABLE:
        raise Conflict(f"Vani cannot send through {conv.provider} conversations")
    digest = request_hash(payload)
    key = intent_key[:255]
    first = _existing(key)
    if first is None and "text" in payload and check_window and not window_open(conv.id):
        raise OutsideWindow("WhatsApp allows free text only within 24 hours of the customer's last message: "
                            "send an approved template instead")
    send = None if first is not None else insert_new(MessageSend, dict(
        org_id=tenancy.require(), conversation_id=conv.id, kind=SendKind.TEMPLATE if "template" in payload
        else SendKind.TEXT, intent_key=key, request_hash=digest, payload=payload,
        status=OutgoingStatus.PENDING, attempts=0, next_attempt_at=None, created_by_id=user_id,
        created_at=utcnow(), updated_at=utcnow()), ["org_id", "intent_key"])
    if send is None:  # this intent was queued before (perhaps a moment ago, by a concurrent request)
        first = first or _existing(key)
        if first.request_hash != digest or first.conversation_id != conv.id:
            raise KeyReused("this idempotency key was already used for a different message")
        message = db.session.get(Message, first.message_id) if first.message_id else None
        if message is None:
            raise NotFound("the message this key created no longer exists")
        return message, False
    now = utcnow()
    message = Message(
        org_id=conv.org_id, conversation_id=conv.id, provider=conv.provider,
        provider_message_id=PLACEHOLDER + uuid.uuid4().hex, direction=MessageDirection.OUTBOUND,
        type="template" if "template" in payload else "text", text=describe(payload),
        data={"template": payload["template"]} if "template" in payload else {}, status=MessageStatus.QUEUED,
        origin=origin, sent_by_id=user_id, autoreply_rule_id=rule_id, message_at=now, queued_at=now)
    db.session.add(message)
    db.session.flush()
    send.message_id, send.next_attempt_at = message.id, now
    if conv.last_message_at is None or as_utc(conv.last_message_at) < now:
        conv.last_message_at = now
    return message, True


def queue_read(conv: Conversation, message: Message) -> bool:
    """Queue a read receipt for an inbound message (Kapso only; once per message). No commit."""
    if conv.provider != "kapso" or message.provider_message_id.startswith(PLACEHOLDER):
        return False
    now = utcnow()
    return insert_new(MessageSend, dict(
        org_id=conv.org_id, conversation_id=conv.id, message_id=message.id, kind=SendKind.READ,
        intent_key=f"read:{message.id}", payload={}, status=OutgoingStatus.PENDING, attempts=0,
        next_attempt_at=now, created_at=now, updated_at=now), ["org_id", "intent_key"]) is not None


def send_for(message_id: int) -> MessageSend | None:
    return db.session.execute(select(MessageSend).where(
        MessageSend.message_id == message_id, MessageSend.kind != SendKind.READ)).scalar_one_or_none()


def requeue(message_id: int) -> MessageSend:
    """Send a failed reply again (its tries start over); commits. 409 unless it failed for good."""
    send = send_for(message_id)
    if send is None:
        raise NotFound(f"message {message_id} is not a reply Vani sent")
    if send.kind == SendKind.TEXT and not window_open(send.conversation_id):
        raise OutsideWindow("more than 24 hours have passed since the customer last wrote: free text can no "
                            "longer be sent; send an approved template instead")
    done = db.session.execute(update(MessageSend).where(
        MessageSend.id == send.id, MessageSend.status == OutgoingStatus.DEAD).values(
        status=OutgoingStatus.PENDING, attempts=0, next_attempt_at=utcnow(), send_started_at=None,
        last_error=None, error_code=None)).rowcount
    if not done:
        db.session.rollback()
        raise Conflict(f"message {message_id} has not failed for good (it is {send.status})")
    db.session.execute(update(Message).where(Message.id == message_id).values(
        status=MessageStatus.QUEUED, failed_at=None, error_code=None, error_detail=None))
    effects.wake(work.get("message_sends"))
    db.session.commit()
    return send
