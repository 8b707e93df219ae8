"""The Calendly bookings Vani holds, as Calendly events: each meeting from Calendly with the
scheduled event its invitee belongs to (read from the invitee's URI, which nests it)."""
from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from vani.models import Meeting, MeetingStatus, Prospect

PROVIDER = "calendly"
INVITEES = "/invitees/"


def scheduled_event_of(invitee_uri: str | None) -> str | None:
    """``https://api.calendly.com/scheduled_events/EV/invitees/INV`` → ``…/scheduled_events/EV``."""
    if not invitee_uri or INVITEES not in invitee_uri:
        return None
    return invitee_uri.rsplit(INVITEES, 1)[0] or None


def calendly_meetings(email: str | None = None, status: MeetingStatus | None = None,
                      scheduled_event: str | None = None) -> Select:
    """The organisation's Calendly meetings (scoped by ``tenancy``), filtered."""
    stmt = select(Meeting).where(Meeting.provider == PROVIDER).options(selectinload(Meeting.prospect))
    if email:
        stmt = stmt.join(Prospect, Meeting.prospect_id == Prospect.id).where(Prospect.email == email)
    if status:
        stmt = stmt.where(Meeting.status == status)
    if scheduled_event:
        prefix = scheduled_event.rstrip("/") + INVITEES
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Meeting.provider_ref.like(f"{escaped}%", escape="\\"))
    return stmt


def calendly_event(meeting: Meeting) -> dict:
    prospect = meeting.prospect
    return {**meeting.to_dict(), "scheduled_event": scheduled_event_of(meeting.provider_ref),
            "invitee": meeting.provider_ref, "invitee_email": prospect.email if prospect else None,
            "invitee_name": prospect.name if prospect else None}
