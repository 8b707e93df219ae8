"""Helpers for the prospect and meeting tests: deliver bookings, run the end-time sweep, read notes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from tests import bookings as bs
from tests.signing import post_cal_com, post_calendly
from vani.extensions import db
from vani.models import Notification, Organisation, ProspectNote
from vani.prospects import completion


def calendly(client, run_worker, *bodies):
    return bs.deliver(post_calendly, client, run_worker, *bodies)


def cal_com(client, run_worker, *bodies):
    return bs.deliver(post_cal_com, client, run_worker, *bodies)


def cal_ended(uid: str, key: str = "ended") -> dict:
    """Cal.com's MEETING_ENDED: the booking's fields beside ``triggerEvent``, no payload wrapper."""
    return {"triggerEvent": "MEETING_ENDED", "uid": uid, "id": 7, "idempotencyKey": f"{key}-{uid}",
            "title": "Intro call", "startTime": "2026-02-10T09:00:00.000Z", "endTime": "2026-02-10T09:30:00.000Z",
            "createdAt": "2026-02-01T08:00:00.000Z", "updatedAt": "2026-02-10T09:31:00.000Z", "status": "ACCEPTED",
            "user": {"email": "host@example.test", "name": "Host"},
            "attendees": [{"email": "guest@example.test", "name": "Guest Person", "noShow": False}], "payment": []}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sweep(now: str) -> int:
    """Complete the meetings whose end time has passed, as the scheduler's job does at ``now``."""
    completed = completion.complete_ended(now=at(now))
    db.session.expire_all()
    return completed


def notes(email: str) -> list[str]:
    prospect = bs.prospect(email)
    return list(db.session.execute(select(ProspectNote.body).where(ProspectNote.prospect_id == prospect.id)
                                   .order_by(ProspectNote.id)).scalars())


def completed_notifications() -> list[Notification]:
    return list(db.session.execute(select(Notification).where(Notification.kind == "meeting.completed")).scalars())


def set_timezone(org_id: int, name: str | None) -> None:
    db.session.execute(update(Organisation).where(Organisation.id == org_id).values(timezone=name))
    db.session.commit()


def other_org(timezone: str = "UTC", secret: str = "other-calendly-signing-key"):
    """A second organisation with its own Calendly secret: (its id, a ``post`` for its URL)."""
    from vani import orgs, tenancy
    from vani.orgs.secrets import store_secret
    from tests.signing import calendly_headers, dumps

    org = orgs.create("Other Sales", slug="other", timezone=timezone)
    with tenancy.acting_for(org.id):
        store_secret("calendly", secret)
    org_id, key = org.id, org.key

    def post(client, data):
        body = dumps(data)
        return client.post(f"/api/webhooks/calendly/{key}", data=body, headers=calendly_headers(body, secret=secret))

    return org_id, post
