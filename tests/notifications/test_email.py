"""Notifications by email against a local SMTP server (aiosmtpd), with failure and retry; the
webhook channel; what a notification says."""
from __future__ import annotations

import email
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.notifications.helpers import PUBLIC, inbound, message_notification, post_twilio, sends, time_passes
from tests.work.helpers import woken
from vani.models import Notification
from vani.models.base import utcnow


# -- email ---------------------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler that refuses the first ``fail`` messages with a temporary error."""

    def __init__(self):
        self.fail, self.calls, self.messages = 0, 0, []

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        if self.calls <= self.fail:
            return "451 4.3.0 Mailbox busy, try again later"
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{controller.port}", PUBLIC_URL=PUBLIC,
                      VANI_NOTIFY_EMAIL_TO="sales@example.com, lead@example.com",
                      VANI_NOTIFY_EMAIL_FROM="vani@example.com", VANI_NOTIFY_ROUTES="*=email")
    yield inbox
    controller.stop()


def test_email_plain_and_html_with_failure_and_retry(client, run_worker, db, smtp):
    smtp.fail = 1
    post_twilio(client, inbound("SMe1", "Is+the+price+%26+date+ok%3F"))
    run_worker()
    rows = sends(db, "email")  # prospect.created and message.received
    # One temporary refusal: the first send failed, the other one went through.
    assert sorted(r.status for r in rows) == ["failed", "sent"] and len(smtp.messages) == 1
    failed = next(r for r in rows if r.status == "failed")
    assert "451" in failed.last_error and failed.next_attempt_at is not None
    time_passes(db, failed)
    assert woken("notification_sends")
    run_worker()
    rows = sends(db, "email")
    assert {r.status for r in rows} == {"sent"}
    assert len(smtp.messages) == 2 and smtp.calls == 3
    by_subject = {m["Subject"]: (to, m) for to, m in smtp.messages}
    subject = next(s for s in by_subject if s.startswith("[Vani] New WhatsApp message"))
    to, msg = by_subject[subject]
    assert to == ["sales@example.com", "lead@example.com"] and msg["From"] == "vani@example.com"
    n = message_notification(db)
    assert msg["Message-ID"] == f"<vani-notification-{n.id}@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "Is the price & date ok?" in plain.get_payload(decode=True).decode()
    assert f"{PUBLIC}/dashboard/messages/{n.data['conversation_id']}" in plain.get_payload(decode=True).decode()
    assert "Is the price &amp; date ok?" in html.get_payload(decode=True).decode()
    # Already sent: nothing goes out again.
    assert not woken("notification_sends", now=utcnow() + timedelta(days=1))
    run_worker()
    assert len(smtp.messages) == 2


def email_one_message(app, client, run_worker, db, smtp_url: str, sid: str):
    """Route inbound messages to email only, receive one, run the worker: its one send row."""
    app.config.update(SMTP_URL=smtp_url, VANI_NOTIFY_EMAIL_TO="a@example.com",
                      VANI_NOTIFY_ROUTES="message.received=email;*=none")
    post_twilio(client, inbound(sid))
    run_worker()
    (row,) = sends(db)
    return row


def test_smtp_login_with_url_encoded_credentials(client, app, run_worker, db):
    from aiosmtpd.smtp import AuthResult

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"bot@example.com" and auth_data.password == b"p@ss:word"
        return AuthResult(success=ok, handled=False)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        base = f"127.0.0.1:{controller.port}"
        row = email_one_message(app, client, run_worker, db, f"smtp://bot%40example.com:wrong@{base}", "SMe3")
        assert row.status == "failed" and "SMTPAuthenticationError" in row.last_error
        app.config["SMTP_URL"] = f"smtp://bot%40example.com:p%40ss%3Aword@{base}"
        time_passes(db, row)
        assert woken("notification_sends")
        run_worker()
        assert sends(db)[0].status == "sent" and len(inbox.messages) == 1
        assert logins[-1] == (b"bot@example.com", b"p@ss:word")
    finally:
        controller.stop()


def test_smtp_unreachable_is_a_recorded_failure(client, app, run_worker, db):
    row = email_one_message(app, client, run_worker, db, f"smtp://127.0.0.1:{free_port()}", "SMe2")
    assert row.status == "failed" and "ConnectionRefusedError" in row.last_error


def test_smtp_url_forms():
    from vani.notifications.base import ChannelError
    from vani.notifications.mail import smtp_settings

    s = smtp_settings("smtp://me%40example.com:p%3Ass@mail.example.com:2525?starttls=1")
    assert (s.host, s.port, s.username, s.password, s.starttls, s.implicit_tls) == \
        ("mail.example.com", 2525, "me@example.com", "p:ss", True, False)
    assert smtp_settings("smtps://mail.example.com").port == 465
    assert smtp_settings("smtp+starttls://mail.example.com").port == 587
    plain = smtp_settings("smtp://mail.example.com")
    assert (plain.port, plain.starttls) == (25, False)
    assert smtp_settings("smtp://u:p@mail.example.com:587").starttls is True
    assert smtp_settings("smtp://mail.example.com:587?starttls=0").starttls is False
    assert smtp_settings("smtps://mail.example.com").starttls is False
    with pytest.raises(ChannelError):
        smtp_settings("http://mail.example.com")


# -- webhook channel and rendering -----------------------------------------------------------
def test_webhook_channel_records_that_the_catalogue_covers_it(client, run_worker, db):
    post_twilio(client, inbound("SMw1"))  # default routes: only the webhook channel is configured
    run_worker()
    rows = sends(db)
    assert [(r.channel, r.status) for r in rows] == [("webhook", "covered"), ("webhook", "covered")]
    assert {r.detail for r in rows} == {"subscribers receive the outbound 'prospect.created' event",
                                        "subscribers receive the outbound 'message.received' event"}
    from vani.models import OutboundEvent

    types = set(db.session.execute(select(OutboundEvent.type)).scalars())
    assert {"prospect.created", "message.received"} <= types


def test_render_payment_and_meeting(app, db):
    from decimal import Decimal

    from vani.models import Meeting, Prospect
    from vani.notifications.render import render

    app.config["PUBLIC_URL"] = PUBLIC
    p = Prospect(email="ana@example.com", name="Ana")
    db.session.add(p)
    db.session.flush()
    m = Meeting(provider="cal_com", provider_ref="b1", prospect_id=p.id, title="Strategy call",
                payment_amount=Decimal("150.00"), payment_currency="EUR")
    db.session.add(m)
    db.session.flush()
    paid = Notification(kind="payment.received", moment_key="k1", meeting_id=m.id, prospect_id=p.id, data={})
    done = Notification(kind="meeting.completed", moment_key="k2", meeting_id=m.id, data={})
    db.session.add_all([paid, done])
    db.session.flush()
    r = render(paid)
    assert r.summary == "Ana paid 150.00 EUR for Strategy call." and ("Amount", "150.00 EUR") in r.fields
    assert r.link == f"{PUBLIC}/dashboard/prospects/{p.id}"
    r = render(done)
    assert r.summary == "Strategy call with Someone has ended." and r.link == f"{PUBLIC}/dashboard/meetings/{m.id}"
    app.config["PUBLIC_URL"] = ""
    assert render(done).link is None
