"""Domain operations a provider's mapper uses. All run inside the event's one transaction and
are idempotent: running the same event twice changes nothing the second time."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from vani.extensions import db
from vani.models import Meeting, MeetingStatus, Notification, Prospect, ProspectNote, WebhookEvent
from vani.models.base import as_utc
from vani.services import outbox
from vani.services.dbutil import insert_ignore

# A creation event never moves a meeting out of these: a late "created" must not undo a cancel.
FINAL_STATUSES = {MeetingStatus.CANCELLED, MeetingStatus.RESCHEDULED, MeetingStatus.COMPLETED,
                  MeetingStatus.NO_SHOW}


def normalize_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


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
        prospect = self.find_prospect(email, phone)
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
        self.prospect = prospect
        self.event.subject_email = self.event.subject_email or prospect.email
        return prospect

    # -- meetings --------------------------------------------------------------------------
    def get_meeting(self, provider: str, ref: str) -> Meeting | None:
        """The meeting, row-locked on PostgreSQL so two workers serialise on it."""
        stmt = select(Meeting).where(Meeting.provider == provider, Meeting.provider_ref == ref)
        return db.session.execute(stmt.with_for_update()).scalar_one_or_none()

    def ensure_meeting(self, provider: str, ref: str, **fields: Any) -> tuple[Meeting, bool]:
        """Get the meeting or create it with ``fields``; existing meetings get missing fields filled."""
        meeting = self.get_meeting(provider, ref)
        created = False
        if meeting is None:
            values = {"status": MeetingStatus.SCHEDULED, **fields, "provider": provider, "provider_ref": ref}
            new_id = db.session.execute(insert_ignore(Meeting, {
                **values, "created_at": self.event.received_at, "updated_at": self.event.received_at,
            }, ["provider", "provider_ref"])).scalar()
            created = new_id is not None
            meeting = self.get_meeting(provider, ref)
        else:
            for key, value in fields.items():
                if key != "status" and value is not None and getattr(meeting, key) in (None, ""):
                    setattr(meeting, key, value)
        self.meeting = meeting
        self.event.subject_ref = self.event.subject_ref or ref
        return meeting, created

    def set_status(self, meeting: Meeting, status: str, changed_at: datetime | None = None,
                   reason: str | None = None) -> bool:
        """Move a meeting to ``status`` and emit ``meeting.<status>``. Returns False if nothing changed.

        A change older than the newest applied one is ignored (providers deliver out of order),
        and scheduling never reopens a cancelled, rescheduled or completed meeting.
        """
        changed_at = as_utc(changed_at)
        last = as_utc(meeting.last_change_at)
        if changed_at and last and changed_at < last and status not in FINAL_STATUSES:
            return False
        if status in (MeetingStatus.SCHEDULED, MeetingStatus.PENDING) and meeting.status in FINAL_STATUSES:
            return False
        if meeting.status == status and (reason is None or meeting.cancellation_reason == reason):
            return False
        if status == MeetingStatus.NO_SHOW:
            meeting.previous_status = meeting.status
        meeting.status = status
        if reason is not None:
            meeting.cancellation_reason = reason
        if changed_at and (last is None or changed_at > last):
            meeting.last_change_at = changed_at
        db.session.flush()
        event_type = {MeetingStatus.PENDING: "meeting.scheduled"}.get(status, f"meeting.{status}")
        self.emit(event_type, meeting.to_dict(), f"{meeting.id}:{status}")
        return True

    def clear_no_show(self, meeting: Meeting) -> bool:
        if meeting.status != MeetingStatus.NO_SHOW:
            return False
        meeting.status = meeting.previous_status or MeetingStatus.SCHEDULED
        meeting.previous_status = None
        db.session.flush()
        self.emit(f"meeting.{meeting.status}", meeting.to_dict(), f"{meeting.id}:{meeting.status}:no_show_cleared")
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
