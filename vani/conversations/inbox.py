"""The team's side of a conversation: who answers it, what they have read, and replying."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from vani.accounts import memberships
from vani import tenancy
from vani.conversations import outgoing, sending, timeline
from vani.errors import MAX_ID, InvalidField, NotFound
from vani.extensions import db
from vani.models import Conversation, Message, MessageDirection
from vani.models.base import utcnow
from vani.work import effects

ASSIGNED = ("mine", "unassigned", "all")


def get(conversation_id: int) -> Conversation:
    conv = db.session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    return conv


def assign(conv: Conversation, user_id: int | None) -> Conversation:
    """Give the conversation to a member of its organisation (None: nobody); commits."""
    if user_id is not None:
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_ID \
                or memberships.role_of(user_id, conv.org_id) is None:
            raise InvalidField("assignee_id", "must be the id of a member of this organisation, or null")
    conv.assignee_id = user_id
    timeline.changed(conv)
    db.session.commit()
    return conv


def unread_newest(conv: Conversation) -> Message | None:
    """The newest inbound message, when nobody has read up to it yet."""
    newest = db.session.execute(select(Message).where(
        Message.conversation_id == conv.id, Message.direction == MessageDirection.INBOUND)
        .order_by(Message.id.desc()).limit(1)).scalar_one_or_none()
    if newest is None or (conv.last_read_message_id or 0) >= newest.id:
        return None
    return newest


def mark_read(conv: Conversation) -> bool:
    """A staff member opened the conversation: remember it, and tell the provider the newest
    inbound message was read (a best-effort send). Commits; True when a receipt was queued."""
    newest = unread_newest(conv)
    if newest is None:
        return False
    conv.last_read_message_id = newest.id
    effects.publish(conv.org_id, f"conversation:{conv.id}")  # unread counts on every open page
    queued = outgoing.queue_read(conv, newest)
    if queued:
        effects.wake(sending.MESSAGE_SENDS)
    db.session.commit()
    return queued


def reply(conv: Conversation, body, intent_key: str, *, origin: str, user_id: int | None):
    """Queue a reply (text or template) once per ``intent_key``; commits and wakes a worker.
    Returns (message, created)."""
    payload = outgoing.parse_payload(body)
    message, created = outgoing.queue_reply(conv, payload, intent_key, origin=origin, user_id=user_id)
    if created:
        effects.wake(sending.MESSAGE_SENDS)
        timeline.changed(conv)
    db.session.commit()
    return message, created


def retry(conv: Conversation, message_id: int) -> Message:
    message = db.session.get(Message, message_id)
    if message is None or message.conversation_id != conv.id:
        raise NotFound(f"no message {message_id} in conversation {conv.id}")
    timeline.changed(conv)
    outgoing.requeue(message_id)  # commits, and wakes a worker
    return message


def intent(prefix: str, key: str) -> str:
    """An intent key in the organisation in force (``prefix`` keeps callers apart)."""
    return f"{prefix}:{tenancy.require()}:{key}"[:255]


def catch_up_unread(hours: int = 2) -> int:
    """Conversations updated in the last ``hours`` whose newest inbound message they do not
    note (stored by a process of an older version while a new one was being rolled out): noted,
    so it shows unread. Idempotent; the scheduler runs it every few minutes. Commits."""
    c, m = Conversation, Message
    newest = (select(func.max(m.id)).where(m.conversation_id == c.id, m.direction == MessageDirection.INBOUND)
              .correlate(c).scalar_subquery())
    stmt = (update(c).where(c.updated_at >= utcnow() - timedelta(hours=hours),
                            func.coalesce(c.last_inbound_message_id, 0) < newest)
            .values(last_inbound_message_id=newest).execution_options(synchronize_session=False))
    with tenancy.everywhere():
        noted = db.session.execute(stmt).rowcount
    db.session.commit()
    return noted
