"""WhatsApp conversations and team notifications as the dashboard lists them."""
from __future__ import annotations

from sqlalchemy import or_, select

from vani.extensions import db
from vani.models import Conversation, Meeting, Notification, NotificationStatus, Prospect
from vani.services.dashboard.filters import parse_choice
from vani.services.paging import keyset_page
from vani.services.dashboard.people import like_pattern
from vani.services.phones import normalize_phone

NOTIFICATION_STATUSES = tuple(NotificationStatus)


def list_conversations(q: str | None, cursor: str | None, limit: int):
    c = Conversation
    stmt = select(c)
    if q:
        terms = [c.contact_name.ilike(like_pattern(q), escape="\\")]
        phone = normalize_phone(q) if sum(ch.isdigit() for ch in q) >= 6 else None
        if phone:
            terms.append(c.phone == phone)
        stmt = stmt.where(or_(*terms))
    return keyset_page(stmt, c.updated_at, c.id, cursor, limit)


def list_notifications(args, cursor: str | None, limit: int):
    status = parse_choice("status", args.get("status"), NOTIFICATION_STATUSES)
    stmt = select(Notification)
    if status:
        stmt = stmt.where(Notification.status == status)
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
