"""What a reply's fate writes into its conversation: ``sent`` with the provider's message id, or
``failed`` for good; the outbound events and notifications that go with it, once each.

A provider may report a status (``sent``, ``delivered``, even ``read``) before its send call has
returned: the webhook then stores the message under the provider's id on its own. ``sent``
folds that early row into the reply (earliest time per step, highest status) and removes it,
so the conversation shows one message that carries every status.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from vani.conversations import StatusStep, apply_step, event_data
from vani.extensions import db
from vani.models import (
    Conversation,
    EventType,
    Message,
    MessageStatus,
    NotificationKind,
    NotificationStatus,
    Prospect,
)
from vani.models.base import as_utc
from vani.notifications import moments
from vani.outbound import fanout, outbox
from vani.work import effects

log = logging.getLogger(__name__)

UNKNOWN = "unknown"  # the error code of a reply whose worker stopped mid-send
STEP_COLUMNS = ("sent_at", "delivered_at", "read_at", "failed_at")


def _prospect(conv: Conversation) -> Prospect | None:
    return db.session.get(Prospect, conv.prospect_id) if conv.prospect_id else None


def _emit(conv: Conversation, msg: Message, type_: EventType, key: str, now: datetime, **extra) -> None:
    emitted = outbox.write([dict(org_id=conv.org_id, type=outbox.catalogued(type_), emit_key=key[:255],
                                 data=event_data(msg, conv, _prospect(conv), **extra))], now)
    fanout.fan_out(emitted, now)  # its deliveries are woken when the transaction commits


def notify(conv: Conversation, kind: NotificationKind, key: str, now: datetime, data: dict) -> None:
    """Raise a notification (once per ``key``) outside an inbound event."""
    moments.write([dict(
        org_id=conv.org_id, kind=kind, moment_key=key[:255], status=NotificationStatus.PENDING, meeting_id=None,
        prospect_id=conv.prospect_id, event_id=None, data=data, attempts=0, created_at=now)], now)


def _fold(early: Message, msg: Message) -> None:
    for column in STEP_COLUMNS:
        theirs, ours = as_utc(getattr(early, column)), as_utc(getattr(msg, column))
        if theirs and (ours is None or theirs < ours):
            setattr(msg, column, theirs)
    if early.status.rank > msg.status.rank:
        msg.status = early.status
    msg.error_code = msg.error_code or early.error_code
    msg.error_detail = msg.error_detail or early.error_detail


def attach(msg: Message, provider_message_id: str) -> None:
    """Give the reply the provider's id, folding in a row an early status webhook stored under it.
    Another of Vani's own replies never gets folded away: the id is then left off (and logged)."""
    for _ in range(3):
        try:
            with db.session.begin_nested():
                early = db.session.execute(select(Message).where(
                    Message.provider == msg.provider, Message.provider_message_id == provider_message_id,
                    Message.id != msg.id).with_for_update()).scalar_one_or_none()
                if early is not None and early.origin is not None:
                    log.error("message %s: the provider gave it id %s, which message %s already has",
                              msg.id, provider_message_id, early.id)
                    return
                if early is not None:
                    _fold(early, msg)
                    db.session.delete(early)
                    db.session.flush()
                msg.provider_message_id = provider_message_id
                db.session.flush()
            return
        except IntegrityError:  # a status webhook stored it just now: fold that one in
            db.session.refresh(msg)
    raise RuntimeError(f"could not give message {msg.id} its provider id {provider_message_id}")


def sent(conv: Conversation, msg: Message, provider_message_id: str | None, now: datetime) -> None:
    if msg.status == MessageStatus.FAILED and msg.error_code == UNKNOWN:  # a takeover's guess, now known
        msg.status, msg.failed_at, msg.error_code, msg.error_detail = MessageStatus.QUEUED, None, None, None
    before = msg.status
    if provider_message_id:
        attach(msg, provider_message_id)
    apply_step(msg, StatusStep(MessageStatus.SENT, now))
    db.session.flush()
    _emit(conv, msg, EventType.MESSAGE_SENT, f"{EventType.MESSAGE_SENT}:{msg.id}", now)
    if msg.status != before and msg.status != MessageStatus.SENT:  # an early webhook already took it further
        _emit(conv, msg, EventType.MESSAGE_STATUS_UPDATED, f"message.status_updated:{msg.id}:{msg.status}", now,
              previous_status=before)


def failed(conv: Conversation, msg: Message, code: str | None, detail: str, now: datetime, round_: int = 0) -> None:
    """The reply failed for good (``round_`` keys this failure: a reply retried by hand that fails
    again is told again)."""
    before = msg.status
    apply_step(msg, StatusStep(MessageStatus.FAILED, now, code, detail[:2000]))
    msg.error_code, msg.error_detail = (code or msg.error_code), detail[:2000]
    db.session.flush()
    _emit(conv, msg, EventType.MESSAGE_STATUS_UPDATED, f"message.status_updated:{msg.id}:{msg.status}:{round_}", now,
          previous_status=before)
    notify(conv, NotificationKind.MESSAGE_FAILED, f"{NotificationKind.MESSAGE_FAILED}:{msg.id}:{round_}", now, {
        "text": (msg.text or "")[:1000], "error_code": code, "error": detail[:500], "phone": conv.phone,
        "contact_name": conv.contact_name, "provider": conv.provider, "conversation_id": conv.id,
        "message_id": msg.id})


def mark_sent(message_id: int, now: datetime) -> None:
    """The plainest record that a reply went out (when the full update failed); commits."""
    db.session.execute(update(Message.__table__).where(Message.id == message_id).values(
        status=MessageStatus.SENT, sent_at=now, error_code=None, error_detail=None, failed_at=None))
    db.session.commit()


def changed(conv: Conversation) -> None:
    """Tell the dashboard the conversation changed, once this transaction is committed."""
    effects.publish(conv.org_id, f"conversation:{conv.id}")
