"""Domain operations a provider's mapper uses. All run inside the event's one transaction and
are idempotent: running the same event twice changes nothing the second time."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Notification, Prospect, ProspectNote, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.services import outbox
from vani.services.dbutil import insert_ignore

# A creation event never moves a meeting out of these: a late "created" must not undo a cancel.
FINAL_STATUSES = {MeetingStatus.CANCELLED, MeetingStatus.RESCHEDULED, MeetingStatus.COMPLETED,
                  MeetingStatus.NO_SHOW}
MEETING_REF_MAX = 512  # Meeting.provider_ref
MAX_AMOUNT = Decimal(10) ** 10  # Meeting.payment_amount is Numeric(12, 2)


def normalize_email(email: str | None) -> str | None:
    email = (email if isinstance(email, str) else "").strip().lower()
    return email[:320] or None  # the column's length


def fit(model, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each string cut to its column's length (providers may send anything)."""
    columns = model.__table__.c
    out = {}
    for key, value in values.items():
        length = getattr(columns[key].type, "length", None) if key in columns else None
        out[key] = value[:length] if length and isinstance(value, str) else value
    return out


def parse_time(value: Any) -> datetime | None:
    """A provider timestamp (ISO 8601 with or without zone, or unix seconds/ms) as UTC, else None."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted past the calendar
        return None


def describe_time(value: datetime) -> str:
    """``2026-01-05 10:00 UTC``"""
    return as_utc(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def headline(provider_title: str, verb: str, start: datetime | None, title: str | None) -> str:
    """``Calendly meeting scheduled for 2026-01-05 10:00 UTC – 30 Minute Meeting``"""
    text = f"{provider_title} meeting {verb}"
    if start is not None:
        text += f" for {describe_time(start)}"
    if title:
        text += f" – {title}"
    return text


class MappingContext:
    """Handed to ``Provider.map``; remembers what the event touched for links and search."""

    def __init__(self, event: WebhookEvent):
        self.event = event
        self.prospect: Prospect | None = None
        self.meeting: Meeting | None = None

    # -- outbound events -------------------------------------------------------------------
    def emit(self, type_: str, data: dict, subject: str | int = "") -> None:
        outbox.emit(type_, data, f"{self.event.provider}:{self.event.id}:{type_}:{subject}")

    # -- prospects -------------------------------------------------------------------------
    def find_prospect(self, email: str | None = None, phone: str | None = None) -> Prospect | None:
        email = normalize_email(email)
        if email:
            found = db.session.execute(select(Prospect).where(Prospect.email == email)).scalar_one_or_none()
            if found:
                return found
        if phone:
            return db.session.execute(
                select(Prospect).where(Prospect.phone == phone).order_by(Prospect.id).limit(1)
            ).scalar_one_or_none()
        return None

    def upsert_prospect(self, email: str | None = None, name: str | None = None, phone: str | None = None,
                        timezone: str | None = None, source: str | None = None) -> Prospect:
        """Find the prospect by email (else phone) or create it; fill in fields it lacks.

        Concurrent workers may race to create the same email: the unique index decides and the
        loser reads the winner's row.
        """
        email = normalize_email(email)
        sizes = fit(Prospect, {"name": name, "phone": phone, "timezone": timezone, "source": source})
        name, phone, timezone, source = sizes["name"], sizes["phone"], sizes["timezone"], sizes["source"]
        prospect = self.find_prospect(email, phone)
        if prospect is not None and email and prospect.email and prospect.email != email:
            prospect = None  # a shared phone number does not make two people one prospect
        created = False
        if prospect is None and email:
            new_id = db.session.execute(insert_ignore(Prospect, dict(
                email=email, name=name, phone=phone, timezone=timezone, source=source or self.event.provider,
                created_at=self.event.received_at, updated_at=self.event.received_at), ["email"])).scalar()
            created = new_id is not None
            prospect = db.session.execute(select(Prospect).where(Prospect.email == email)).scalar_one()
        elif prospect is None:
            prospect = Prospect(name=name, phone=phone, timezone=timezone, source=source or self.event.provider)
            db.session.add(prospect)
            db.session.flush()
            created = True
        changed = False
        if not created:
            for attr, value in (("name", name), ("phone", phone), ("timezone", timezone), ("email", email)):
                if value and getattr(prospect, attr) in (None, ""):
                    setattr(prospect, attr, value)
                    changed = True
            if changed:
                db.session.flush()
        if created:
            self.emit("prospect.created", prospect.to_dict(), prospect.id)
            self.notify("prospect.created", f"prospect.created:{prospect.id}", prospect=prospect,
                        data={"name": prospect.name, "email": prospect.email, "phone": prospect.phone})
        elif changed:
            self.emit("prospect.updated", prospect.to_dict(), prospect.id)
        self.use_prospect(prospect)
        return prospect

    def use_prospect(self, prospect: Prospect) -> None:
        """Make ``prospect`` the one this event is about (links and search)."""
        self.prospect = prospect
        self.event.subject_email = self.event.subject_email or prospect.email

    # -- meetings --------------------------------------------------------------------------
    def get_meeting(self, provider: str, ref: str) -> Meeting | None:
        """The meeting, row-locked on PostgreSQL so two workers serialise on it."""
        ref = ref[:MEETING_REF_MAX]
        stmt = select(Meeting).where(Meeting.provider == provider, Meeting.provider_ref == ref)
        return db.session.execute(stmt.with_for_update()).scalar_one_or_none()

    def ensure_meeting(self, provider: str, ref: str, initial: dict | None = None,
                       **fields: Any) -> tuple[Meeting, bool]:
        """Get the meeting or create it with ``fields`` (plus ``initial``, used only when creating);
        an existing meeting gets its missing ``fields`` filled in."""
        ref = ref[:MEETING_REF_MAX]
        fields = fit(Meeting, fields)
        meeting = self.get_meeting(provider, ref)
        created = False
        if meeting is None:
            values = fit(Meeting, {"status": MeetingStatus.SCHEDULED, **fields, **(initial or {}),
                                   "provider": provider, "provider_ref": ref})
            new_id = db.session.execute(insert_ignore(Meeting, {
                **values, "created_at": self.event.received_at, "updated_at": self.event.received_at,
            }, ["provider", "provider_ref"])).scalar()
            created = new_id is not None
            meeting = self.get_meeting(provider, ref)
        else:
            for key, value in fields.items():
                if key != "status" and value is not None and getattr(meeting, key) in (None, ""):
                    setattr(meeting, key, value)
        self.focus(meeting)
        return meeting, created

    def focus(self, meeting: Meeting) -> None:
        """Make ``meeting`` the one this event is about (links and search)."""
        self.meeting = meeting
        self.event.subject_ref = meeting.provider_ref[:255]

    def upsert_meeting(self, ref: str, status: str, changed_at: datetime | None = None,
                       reason: str | None = None, **fields: Any) -> Meeting:
        """Get or create this provider's meeting ``ref`` and move it to ``status``.

        Emits ``meeting.<status>`` once when the meeting is created or its status changes."""
        changed_at = as_utc(changed_at)
        initial: dict[str, Any] = {"status": status, "last_change_at": changed_at}
        if reason is not None:
            initial["cancellation_reason"] = reason
        meeting, created = self.ensure_meeting(self.event.provider, ref, initial=initial, **fields)
        if created:
            self._emit_meeting(meeting, status)
        else:
            self.set_status(meeting, status, changed_at, reason)
        return meeting

    def meeting_data(self, meeting: Meeting) -> dict:
        """The outbound representation of a meeting, with its prospect."""
        data = meeting.to_dict()
        prospect = meeting.prospect
        data["prospect"] = ({"id": prospect.id, "email": prospect.email, "name": prospect.name,
                             "phone": prospect.phone} if prospect else None)
        return data

    def _emit_meeting(self, meeting: Meeting, status: str, suffix: str = "") -> None:
        event_type = {MeetingStatus.PENDING: "meeting.scheduled"}.get(status, f"meeting.{status}")
        self.emit(event_type, self.meeting_data(meeting), f"{meeting.id}:{status}{suffix}")

    def set_status(self, meeting: Meeting, status: str, changed_at: datetime | None = None,
                   reason: str | None = None) -> bool:
        """Move a meeting to ``status`` and emit ``meeting.<status>``. Returns False if nothing changed.

        A change older than the newest applied one is ignored (providers deliver out of order;
        a cancel still wins over anything), no-show marks are strictly time-ordered, and
        scheduling never reopens a cancelled, rescheduled, completed or no-show meeting.
        """
        changed_at = as_utc(changed_at)
        last = as_utc(meeting.last_change_at)
        stale = bool(changed_at and last and changed_at < last)
        if stale and (status not in FINAL_STATUSES or status == MeetingStatus.NO_SHOW):
            return False
        if status in (MeetingStatus.SCHEDULED, MeetingStatus.PENDING) and meeting.status in FINAL_STATUSES:
            return False
        if meeting.status == status:
            if reason and not meeting.cancellation_reason:
                meeting.cancellation_reason = reason
            return False
        if status == MeetingStatus.NO_SHOW:
            meeting.previous_status = meeting.status
        meeting.status = status
        if reason is not None:
            meeting.cancellation_reason = reason
        if changed_at and (last is None or changed_at > last):
            meeting.last_change_at = changed_at
        db.session.flush()
        self._emit_meeting(meeting, status)
        return True

    def clear_no_show(self, meeting: Meeting, changed_at: datetime | None = None) -> bool:
        """Undo a no-show mark (back to the status before it). The time of the unmark is kept
        even when there is nothing to undo, so an older mark delivered late stays ignored."""
        changed_at = as_utc(changed_at)
        last = as_utc(meeting.last_change_at)
        if changed_at and last and changed_at < last:
            return False
        if changed_at:
            meeting.last_change_at = changed_at
        if meeting.status != MeetingStatus.NO_SHOW:
            db.session.flush()
            return False
        meeting.status = meeting.previous_status or MeetingStatus.SCHEDULED
        meeting.previous_status = None
        db.session.flush()
        self._emit_meeting(meeting, meeting.status, ":no_show_cleared")
        return True

    def record_payment(self, meeting: Meeting, amount: Decimal | None, currency: str | None,
                       paid_at: datetime | None = None, details: dict | None = None) -> bool:
        """Record a payment once per meeting: notification + ``payment.received``."""
        if meeting.paid_at is not None:
            return False
        if amount is not None and not (amount.is_finite() and abs(amount) < MAX_AMOUNT):
            amount = None  # not a price Numeric(12, 2) can hold: recorded as unknown
        meeting.paid_at = as_utc(paid_at) or utcnow()
        meeting.payment_amount = amount
        meeting.payment_currency = currency.upper()[:8] if currency else None
        db.session.flush()
        data = {"amount": str(amount) if amount is not None else None,
                "currency": meeting.payment_currency, "meeting": self.meeting_data(meeting), **(details or {})}
        self.notify("payment.received", f"payment.received:{meeting.provider}:{meeting.provider_ref}",
                    meeting=meeting, data=data)
        self.emit("payment.received", data, meeting.id)
        return True

    # -- notes and notifications -----------------------------------------------------------
    def add_note(self, prospect: Prospect, body: str, purpose: str = "note", meeting: Meeting | None = None) -> None:
        key = f"{self.event.provider}:{self.event.id}:{purpose}"
        db.session.execute(insert_ignore(ProspectNote, dict(
            prospect_id=prospect.id, note_key=key[:255], body=body, source=self.event.provider,
            meeting_id=meeting.id if meeting else None, created_at=self.event.received_at), ["note_key"]))

    def notify(self, kind: str, moment_key: str, meeting: Meeting | None = None,
               prospect: Prospect | None = None, data: dict | None = None) -> None:
        """Record an important moment once; the notification jobs deliver it."""
        prospect = prospect or (meeting.prospect if meeting else None)
        db.session.execute(insert_ignore(Notification, dict(
            kind=kind, moment_key=moment_key[:255], status="pending",
            meeting_id=meeting.id if meeting else None, prospect_id=prospect.id if prospect else None,
            event_id=self.event.id, data=data or {}, attempts=0, created_at=self.event.received_at),
            ["moment_key"]))
