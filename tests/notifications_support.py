"""Shared pieces of the notification tests: a Twilio inbound body that raises notifications,
row readers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.whatsapp_signing import post_twilio as _post_twilio
from vani.models import Notification, NotificationSend
from vani.models.base import as_utc, utcnow

PUBLIC = "https://vani.example.com"


def inbound(sid: str, text: str = "Hello+there", sender: str = "%2B15550100061") -> str:
    return (f"SmsMessageSid={sid}&NumMedia=0&ProfileName=Nadia+K&SmsStatus=received&Body={text}"
            f"&To=whatsapp%3A%2B14155238886&MessageSid={sid}&AccountSid=ACx&From=whatsapp%3A{sender}")


def post_twilio(client, body: str):
    response = _post_twilio(client, body)
    assert response.status_code == 200, response.data
    return response


def sends(db, channel: str | None = None) -> list[NotificationSend]:
    stmt = select(NotificationSend).order_by(NotificationSend.id)
    if channel:
        stmt = stmt.where(NotificationSend.channel == channel)
    db.session.expire_all()
    return list(db.session.execute(stmt).scalars())


def message_notification(db) -> Notification:
    return db.session.execute(select(Notification).where(Notification.kind == "message.received")).scalar_one()


def time_passes(db, row: NotificationSend) -> None:
    """Let the retry fall due (as if its backoff had elapsed)."""
    assert as_utc(row.next_attempt_at) > utcnow()
    db.session.get(NotificationSend, row.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
