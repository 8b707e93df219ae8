"""WhatsApp conversations and team notifications as the dashboard lists them."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal_column, or_, select

from vani.accounts import memberships
from vani import tenancy
from vani.conversations import outgoing, recent_messages
from vani.dashboard.filters import parse_choice, parse_ids
from vani.dashboard.people import like_pattern
from vani.extensions import db
from vani.models import Conversation, Meeting, Message, MessageDirection, Notification, NotificationStatus, Prospect
from vani.models.paging import keyset_page
from vani.models.replies import AutoReplyRule, MessageSend, OutgoingStatus, SendKind
from vani.payloads.phones import normalize_phone

NOTIFICATION_STATUSES = tuple(NotificationStatus)


def list_conversations(q: str | None, cursor: str | None, limit: int, assigned: str = "all",
                       user_id: int | None = None):
    c = Conversation
    stmt = select(c)
    if assigned == "mine":
        stmt = stmt.where(c.assignee_id == user_id)
    elif assigned == "unassigned":
        stmt = stmt.where(c.assignee_id.is_(None))
    if q:
        terms = [c.contact_name.ilike(like_pattern(q), escape="\\")]
        phone = normalize_phone(q) if sum(ch.isdigit() for ch in q) >= 6 else None
        if phone:
            terms.append(c.phone == phone)
        stmt = stmt.where(or_(*terms))
    return keyset_page(stmt, c.updated_at, c.id, cursor, limit)


NAV_MOST = 500  # unread conversations the navigation counts; beyond them it says "+"


@dataclass(frozen=True)
class Unread:
    """The navigation's unread count: ``more`` when more conversations were unread than counted."""
    count: int
    more: bool = False

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        return f"{self.count}+" if self.more else str(self.count)


# Written into the SQL as literals, as the partial indexes' conditions are (a bound 0 or
# 'inbound' would keep the planner from matching them; SQLite never would).
INBOUND = literal_column(f"'{MessageDirection.INBOUND.value}'")


def _read(c):
    """The newest inbound message read (0: none)."""
    return func.coalesce(c.last_read_message_id, literal_column("0"))


def unread_conversations(limit: int):
    """Conversations whose newest inbound message is newer than the newest one read (a partial
    index holds exactly these), most recently updated first."""
    c = Conversation
    return (select(c.id).where(c.last_inbound_message_id > _read(c))
            .order_by(c.updated_at.desc(), c.id.desc()).limit(limit))


def unread_counts(conversation_ids) -> dict[int, int]:
    """``{conversation id: unread messages}`` for those with any, in one query: each named
    conversation with something unread counts its inbound messages after the last one read."""
    ids = {i for i in conversation_ids if i}
    if not ids:
        return {}
    m, c = Message, Conversation
    read = _read(c)
    count = (select(func.count()).where(m.conversation_id == c.id, m.direction == INBOUND, m.id > read)
             .correlate(c).scalar_subquery())
    rows = db.session.execute(select(c.id, count).where(c.id.in_(ids), c.last_inbound_message_id > read))
    return {conv_id: n for conv_id, n in rows if n}


def unread_total() -> Unread:
    """Unread inbound messages across the organisation's conversations (the navigation's count):
    one index lookup when nothing is unread, as is usual."""
    ids = list(db.session.execute(unread_conversations(NAV_MOST + 1)).scalars())
    if not ids:
        return Unread(0)
    return Unread(sum(unread_counts(ids[:NAV_MOST]).values()), more=len(ids) > NAV_MOST)


def list_notifications(args, cursor: str | None, limit: int):
    status = parse_choice("status", args.get("status"), NOTIFICATION_STATUSES)
    stmt = select(Notification)
    if status:
        stmt = stmt.where(Notification.status == status)
    ids = parse_ids("ids", args.get("ids"))  # live refresh: only these rows
    if ids:
        stmt = stmt.where(Notification.id.in_(ids))
    return keyset_page(stmt, Notification.created_at, Notification.id, cursor, limit)


def by_id(model, ids) -> dict[int, object]:
    """``{id: row}`` of ``model`` for the given ids (None and repeats skipped), in one query."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {row.id: row for row in db.session.execute(select(model).where(model.id.in_(ids))).scalars()}


def prospects_by_id(ids) -> dict[int, Prospect]:
    return by_id(Prospect, ids)


def meetings_by_id(ids) -> dict[int, Meeting]:
    return by_id(Meeting, ids)


def member_names() -> dict[int, str]:
    """``{user id: name}`` of the organisation's members, for assignment."""
    return {user.id: user.email for user, _ in memberships.members(tenancy.require())}


def thread(conv: Conversation) -> dict:
    """What the conversation page shows: its messages, how each reply's send went, the rules
    that answered, and whether free text may be sent now."""
    messages = recent_messages([conv.id], limit=500)
    ids = [m.id for m in messages]
    sends = {s.message_id: s for s in db.session.execute(select(MessageSend).where(
        MessageSend.message_id.in_(ids), MessageSend.kind != SendKind.READ)).scalars()} if ids else {}
    rule_ids = {m.autoreply_rule_id for m in messages if m.autoreply_rule_id}
    return {"messages": messages, "sends": sends, "rules": by_id(AutoReplyRule, rule_ids),
            "window_open": outgoing.window_open(conv.id), "OutgoingStatus": OutgoingStatus}
