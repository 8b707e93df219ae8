"""WhatsApp conversations and team notifications as the dashboard lists them."""
from __future__ import annotations

from sqlalchemy import or_, select

from vani.api.pagination import keyset, page
from vani.extensions import db
from vani.models import Conversation, Meeting, Notification, Prospect
from vani.services.dashboard.filters import parse_choice
from vani.services.dashboard.people import like_pattern
from vani.services.phones import normalize_phone

NOTIFICATION_STATUSES = ("pending", "sent", "failed", "skipped")


def list_conversations(q: str | None, cursor: str | None, limit: int):
    c = Conversation
    stmt = select(c)
    if q:
        terms = [c.contact_name.ilike(like_pattern(q), escape="\\")]
        phone = normalize_phone(q) if sum(ch.isdigit() for ch in q) >= 6 else None
        if phone:
            terms.append(c.phone == phone)
        stmt = stmt.where(or_(*terms))
    stmt = keyset(stmt, c.updated_at, c.id, cursor, limit)
    return page(list(db.session.execute(stmt).scalars()), limit, "updated_at")


def prospects_by_id(ids) -> dict[int, Prospect]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {p.id: p for p in db.session.execute(select(Prospect).where(Prospect.id.in_(ids))).scalars()}


def list_notifications(args, cursor: str | None, limit: int):
    status = parse_choice("status", args.get("status"), NOTIFICATION_STATUSES)
    stmt = select(Notification)
    if status:
        stmt = stmt.where(Notification.status == status)
    stmt = keyset(stmt, Notification.created_at, Notification.id, cursor, limit)
    return page(list(db.session.execute(stmt).scalars()), limit, "created_at")


def meetings_by_id(ids) -> dict[int, Meeting]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {m.id: m for m in db.session.execute(select(Meeting).where(Meeting.id.in_(ids))).scalars()}
