"""Prospects and meetings: searchable lists, and a prospect's timeline as its page shows it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select

from vani.dashboard.filters import parse_choice
from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Prospect, ProspectNote, ProspectStage, WebhookEvent
from vani.models.paging import encode_cursor, keyset, keyset_page
from vani.payloads.phones import normalize_phone
from vani.prospects import history


def like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prospect_search(stmt: Select, q: str | None) -> Select:
    if not q:
        return stmt
    terms = [Prospect.email.ilike(like_pattern(q), escape="\\"), Prospect.name.ilike(like_pattern(q), escape="\\")]
    phone = normalize_phone(q) if sum(c.isdigit() for c in q) >= 6 else None
    if phone:
        terms.append(Prospect.phone == phone)
    return stmt.where(or_(*terms))


OWNER_CHOICES = ("mine", "any", "none")


def list_prospects(q: str | None, cursor: str | None, limit: int, *, stage: str | None = None,
                   source: str | None = None, owner: str = "any", user_id: int | None = None):
    """Prospects newest first: searched, and filtered by stage, first-touch source and owner
    (``mine``, ``none`` or ``any``)."""
    stmt = prospect_search(select(Prospect), q)
    if stage:
        stmt = stmt.where(Prospect.stage == parse_choice("stage", stage, list(ProspectStage)))
    if source:
        stmt = stmt.where(Prospect.utm_source == source[:255])
    if owner == "mine":
        stmt = stmt.where(Prospect.owner_id == user_id)
    elif owner == "none":
        stmt = stmt.where(Prospect.owner_id.is_(None), Prospect.owner_email.is_(None))
    return keyset_page(stmt, Prospect.created_at, Prospect.id, cursor, limit)


def sources() -> list[str]:
    """The first-touch sources the organisation's prospects have, for the filter menu."""
    return sorted(db.session.execute(select(Prospect.utm_source).where(Prospect.utm_source.isnot(None))
                                     .distinct().limit(200)).scalars())


def list_meetings(args, cursor: str | None, limit: int):
    status = parse_choice("status", args.get("status"), list(MeetingStatus))
    q = (args.get("q") or "").strip()
    stmt = select(Meeting, Prospect).outerjoin(Prospect, Meeting.prospect_id == Prospect.id)
    if status:
        stmt = stmt.where(Meeting.status == status)
    if args.get("owner") == "mine":
        stmt = stmt.where(Meeting.owner_id == args.get("user_id"))
    elif args.get("owner") == "none":
        stmt = stmt.where(Meeting.owner_id.is_(None), Meeting.owner_email.is_(None))
    if q:
        stmt = stmt.where(or_(Meeting.title.ilike(like_pattern(q), escape="\\"),
                              Prospect.email.ilike(like_pattern(q), escape="\\"),
                              Prospect.name.ilike(like_pattern(q), escape="\\")))
    stmt = keyset(stmt, Meeting.created_at, Meeting.id, cursor, limit)
    rows = list(db.session.execute(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1][0].created_at, rows[-1][0].id) if more and rows else None
    return rows, next_cursor


@dataclass
class Shown:
    """One item of the prospect page's timeline: an entry of ``prospects.history``, or a thread."""
    kind: str
    at: datetime | None
    obj: object


@dataclass
class EmailThread:
    subject: str | None
    emails: list  # oldest first
    at: datetime | None


def timeline_page(prospect_id: int, cursor: str | None, limit: int) -> tuple[list[Shown], str | None]:
    """A page of the prospect's timeline (the API's, ``prospects.history``) as the page shows it:
    the page's emails of one thread together (Gmail's thread, else the first reference), at the
    newest of them."""
    entries, next_cursor = history.timeline(prospect_id, cursor, limit)
    threads: dict[str, EmailThread] = {}
    items: list[Shown] = []
    for entry in entries:
        if entry.kind != history.EntryKind.EMAIL:
            items.append(Shown(entry.kind, entry.at, entry.obj))
            continue
        email = entry.obj
        key = email.thread_id or email.message_id or f"#{email.id}"
        if key not in threads:
            threads[key] = EmailThread(email.subject, [], entry.at)
            items.append(Shown("thread", entry.at, threads[key]))
        threads[key].emails.insert(0, email)
        threads[key].subject = threads[key].subject or email.subject
    return items, next_cursor


def can_start_conversation(prospect: Prospect) -> bool:
    """A first WhatsApp message can be sent: the prospect has a phone and no conversation yet."""
    from vani.conversations import conversations_for_prospect

    return bool(prospect.phone) and not conversations_for_prospect(prospect.id)


def meeting_context(meeting: Meeting) -> dict:
    """What the meeting page shows besides the meeting: its prospect, notes, events, replacements."""
    return {
        "prospect": db.session.get(Prospect, meeting.prospect_id) if meeting.prospect_id else None,
        "notes": list(db.session.execute(select(ProspectNote).where(ProspectNote.meeting_id == meeting.id)
                                         .order_by(ProspectNote.id.desc())).scalars()),
        "events": list(db.session.execute(select(WebhookEvent).where(WebhookEvent.meeting_id == meeting.id)
                                          .order_by(WebhookEvent.id.desc()).limit(100)).scalars()),
        "replaced_by": list(db.session.execute(select(Meeting).where(Meeting.replaces_id == meeting.id)).scalars()),
    }
