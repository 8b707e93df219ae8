"""Builders for Calendly and Cal.com payloads written for these tests, and small query helpers."""
from __future__ import annotations

from sqlalchemy import func, select

from vani.extensions import db
from vani.models import Meeting, OutboundEvent, Prospect, WebhookEvent

CALENDLY_EVENT = "https://api.calendly.com/scheduled_events/ev-{n}"


def invitee_uri(n: int | str) -> str:
    return f"https://api.calendly.com/scheduled_events/ev-{n}/invitees/inv-{n}"


def calendly(event: str, n: int | str = 1, *, email: str = "lena@example.test", name: str | None = "Lena Novak",
             created_at: str = "2026-01-01T09:00:00.000000Z", start: str = "2026-01-05T10:00:00.000000Z",
             end: str = "2026-01-05T10:30:00.000000Z", title: str = "30 Minute Meeting",
             location: dict | None = None, old_invitee: str | None = None, new_invitee: str | None = None,
             rescheduled: bool = False, reason: str | None = None, canceled_at: str | None = None,
             phone: str | None = None, payment: dict | None = None) -> dict:
    """An ``invitee.created`` / ``invitee.canceled`` body in Calendly's 2023+ shape."""
    canceled = event == "invitee.canceled"
    cancellation = ({"canceled_by": name or "Invitee", "canceler_type": "invitee", "reason": reason,
                     "created_at": canceled_at or created_at} if canceled else None)
    payload = {
        "uri": invitee_uri(n), "email": email, "name": name, "first_name": None, "last_name": None,
        "created_at": created_at, "updated_at": canceled_at or created_at,
        "event": CALENDLY_EVENT.format(n=n), "status": "canceled" if canceled else "active",
        "timezone": "Europe/Berlin", "text_reminder_number": phone, "old_invitee": old_invitee,
        "new_invitee": new_invitee, "rescheduled": rescheduled, "payment": payment, "no_show": None,
        "questions_and_answers": [], "tracking": {},
        "scheduled_event": {
            "uri": CALENDLY_EVENT.format(n=n), "name": title, "start_time": start, "end_time": end,
            "status": "canceled" if canceled else "active",
            "location": location if location is not None else {
                "type": "zoom", "join_url": f"https://zoom.example/j/{n}", "status": "pushed"},
            "event_type": "https://api.calendly.com/event_types/et-1",
        },
    }
    if cancellation:
        payload["cancellation"] = cancellation
    return {"event": event, "created_at": canceled_at or created_at,
            "created_by": "https://api.calendly.com/users/u-1", "payload": payload}


def calendly_no_show(marked: bool, n: int | str = 1, at: str = "2026-01-05T11:00:00.000000Z") -> dict:
    return {"event": "invitee_no_show.created" if marked else "invitee_no_show.deleted", "created_at": at,
            "payload": {"uri": f"https://api.calendly.com/invitee_no_shows/ns-{n}", "invitee": invitee_uri(n),
                        "created_at": "2026-01-05T11:00:00.000000Z"}}


def cal_booking(trigger: str, uid: str, *, email: str = "guest@example.test", name: str = "Guest Person",
                created_at: str = "2026-02-01T08:00:00.000Z", start: str | None = "2026-02-10T09:00:00.000Z",
                end: str | None = "2026-02-10T09:30:00.000Z", title: str = "Intro call", **extra) -> dict:
    payload = {"uid": uid, "title": title, "startTime": start, "endTime": end, "status": "ACCEPTED",
               "attendees": [{"name": name, "email": email, "timeZone": "Europe/Rome", "phoneNumber": None}],
               "location": "integrations:daily",
               "videoCallData": {"type": "daily_video", "url": f"https://app.cal.com/video/{uid}"},
               "price": 0, "currency": "usd", **extra}
    return {"triggerEvent": trigger, "createdAt": created_at, "payload": payload}


# -- queries -----------------------------------------------------------------------------------
def deliver(post, client, run_worker, *bodies) -> list[WebhookEvent]:
    """Post each body with ``post`` (a signing helper), expect it accepted, run a worker burst,
    and return the stored events in order."""
    ids = []
    for body in bodies:
        r = post(client, body)
        assert r.status_code == 200 and r.json["status"] == "accepted", r.json
        ids.append(r.json["event_id"])
    run_worker()
    return [event(i) for i in ids]


def event(event_id: int) -> WebhookEvent:
    return db.session.get(WebhookEvent, event_id, populate_existing=True)


def meeting(provider: str, ref: str) -> Meeting | None:
    db.session.expire_all()
    return db.session.execute(select(Meeting).where(Meeting.provider == provider,
                                                    Meeting.provider_ref == ref)).scalar_one_or_none()


def prospect(email: str) -> Prospect | None:
    db.session.expire_all()
    return db.session.execute(select(Prospect).where(Prospect.email == email)).scalar_one_or_none()


def count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def emitted() -> dict[str, int]:
    """Outbound domain events by type."""
    rows = db.session.execute(select(OutboundEvent.type, func.count()).group_by(OutboundEvent.type))
    return dict(rows.all())


def outbox_keys() -> list[str]:
    return sorted(db.session.execute(select(OutboundEvent.emit_key)).scalars())


def same_utc(value, text: str) -> bool:
    """A stored time (naive on SQLite, aware on PostgreSQL) equals the ISO ``text``."""
    from datetime import datetime, timezone

    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value == datetime.fromisoformat(text.replace("Z", "+00:00"))


def db_one(stmt):
    """The first row of ``stmt`` (fresh from the database)."""
    db.session.expire_all()
    return db.session.execute(stmt).scalars().first()
