"""Shared pieces of the notification tests: a Twilio inbound body that raises notifications,
row readers, a local SMTP server."""
from __future__ import annotations

import email
import socket
from contextlib import contextmanager
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


class Inbox:
    """An aiosmtpd handler keeping each message as (recipients, parsed message)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def smtp_server(app):
    """A local SMTP server for the duration, set as ``SMTP_URL``: yields its Inbox."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", VANI_NOTIFY_EMAIL_FROM="vani@example.com")
    try:
        yield inbox
    finally:
        controller.stop()
