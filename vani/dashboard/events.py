"""The events list (filters, keyset pages) and one event's details."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select

from vani import plugins
from vani.dashboard.filters import parse_bool, parse_choice, parse_day, parse_ids, parse_int
from vani.dashboard.menus import distinct_values, forget
from vani.extensions import db
from vani.models import EventStatus, Meeting, Prospect, RejectedCall, WebhookEvent
from vani.models.paging import keyset, keyset_page, page

# What a list row needs: never the body, headers or payload.
LIST_COLUMNS = (
    WebhookEvent.id, WebhookEvent.provider, WebhookEvent.event_type, WebhookEvent.status,
    WebhookEvent.verified, WebhookEvent.received_at, WebhookEvent.attempts,
    WebhookEvent.subject_email, WebhookEvent.subject_ref,
    func.substr(WebhookEvent.outcome, 1, 160).label("outcome"),
)


@dataclass
class EventFilters:
    provider: str | None = None
    event_type: str | None = None
    status: str | None = None
    verified: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    after_id: int | None = None  # live refresh: only rows newer than this id
    ids: tuple[int, ...] = ()  # live refresh: only these rows (those that still match the filters)

    @classmethod
    def from_args(cls, args) -> "EventFilters":
        providers = [p.name for p in plugins.installed().all()]
        return cls(
            provider=parse_choice("provider", args.get("provider"), providers),
            event_type=(args.get("type") or "").strip() or None,
            status=parse_choice("status", args.get("status"), list(EventStatus)),
            verified=parse_bool("verified", args.get("verified")),
            since=parse_day("from", args.get("from")),
            until=parse_day("to", args.get("to"), end=True),
            q=(args.get("q") or "").strip() or None,
            after_id=parse_int("after", args.get("after")),
            ids=parse_ids("ids", args.get("ids")),
        )

    def apply(self, stmt: Select) -> Select:
        e = WebhookEvent
        if self.provider:
            stmt = stmt.where(e.provider == self.provider)
        if self.event_type:
            stmt = stmt.where(e.event_type == self.event_type)
        if self.status:
            stmt = stmt.where(e.status == self.status)
        if self.verified is not None:
            stmt = stmt.where(e.verified.is_(self.verified))
        if self.since:
            stmt = stmt.where(e.received_at >= self.since)
        if self.until:
            stmt = stmt.where(e.received_at < self.until)
        if self.after_id is not None:
            stmt = stmt.where(e.id > self.after_id)
        if self.ids:
            stmt = stmt.where(e.id.in_(self.ids))
        if self.q:
            # Exact matches on indexed columns keep this fast on millions of rows.
            terms = [e.subject_email == self.q.lower(), e.subject_ref == self.q]
            if self.q.isdigit() and len(self.q) < 19:
                terms.append(e.id == int(self.q))
            stmt = stmt.where(or_(*terms))
        return stmt


def list_statement(filters: EventFilters, cursor: str | None, limit: int) -> Select:
    """The keyset query behind the events page (newest first, one extra row)."""
    stmt = filters.apply(select(*LIST_COLUMNS))
    return keyset(stmt, WebhookEvent.received_at, WebhookEvent.id, cursor, limit)


def list_events(filters: EventFilters, cursor: str | None, limit: int) -> tuple[list, str | None]:
    rows = list(db.session.execute(list_statement(filters, cursor, limit)))
    return page(rows, limit, "received_at")


def event_types() -> list[str]:
    """Distinct event types for the filter menu (cached briefly, fast on millions of rows)."""
    return distinct_values(WebhookEvent.event_type)


def forget_event_types() -> None:
    forget()


@dataclass
class EventDetail:
    event: WebhookEvent
    payload_text: str
    prospect: Prospect | None
    meeting: Meeting | None


def pretty_payload(event: WebhookEvent) -> str:
    if event.payload is not None:
        return json.dumps(event.payload, indent=2, ensure_ascii=False, sort_keys=False)
    body = event.body or b""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", errors="replace")


def event_detail(event_id: int) -> EventDetail | None:
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        return None
    prospect = db.session.get(Prospect, event.prospect_id) if event.prospect_id else None
    meeting = db.session.get(Meeting, event.meeting_id) if event.meeting_id else None
    return EventDetail(event, pretty_payload(event), prospect, meeting)


def list_rejected(provider: str | None, cursor: str | None, limit: int) -> tuple[list[RejectedCall], str | None]:
    """Refused webhook calls, newest first, optionally of one provider."""
    stmt = select(RejectedCall)
    if provider:
        stmt = stmt.where(RejectedCall.provider == provider)
    return keyset_page(stmt, RejectedCall.created_at, RejectedCall.id, cursor, limit)
