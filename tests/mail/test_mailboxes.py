"""Mailboxes: mail without a Message-ID stored once, settings changes that could leak a password,
the wake-ups that must not defeat a failing mailbox's backoff, and mail that outlives its mailbox."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.web.seed import seed_mailbox
from tests.factories import mail
from tests.work.helpers import process_events
from vani.errors import InvalidField
from vani.mail import mailboxes
from vani.mail.store import EmailIn, store
from vani.models import Email, Mailbox, Prospect


def test_mail_without_a_message_id_is_stored_once_across_a_renumbered_folder(app, db):
    box = seed_mailbox()
    first = EmailIn(provider_message_id="INBOX/7/1", direction="inbound", from_address="ana@client.test",
                    subject="hello", date=datetime(2026, 11, 29, 9, tzinfo=timezone.utc), snippet="hi")
    renumbered = EmailIn(**{**first.__dict__, "provider_message_id": "INBOX/8/1"})
    assert store(box, [first]) == 1 and store(box, [renumbered]) == 0


def test_changing_the_server_needs_the_password_again(app, db):
    seed_mailbox()
    form = {"host": "imap.example.com", "port": "993", "user": "sales@example.com", "address": "sales@example.com"}
    mailboxes.add_imap(form)  # the same server: the stored password stays
    with pytest.raises(InvalidField) as refused:
        mailboxes.add_imap({**form, "host": "imap.attacker.test"})
    assert refused.value.field == "password"
    with pytest.raises(InvalidField):
        mailboxes.add_imap({**form, "ssl": "off"})
    box = mailboxes.add_imap({**form, "host": "imap.new.test", "password": "the-new-one"})
    assert (box.imap_host, box.imap_password) == ("imap.new.test", "the-new-one")


def test_a_failing_mailbox_keeps_its_backoff_until_a_person_asks(app, db):
    box = seed_mailbox()
    box.status, box.attempts, box.next_attempt_at = "failed", 3, datetime.now(timezone.utc) + timedelta(minutes=8)
    db.session.commit()
    assert mailboxes.request_sync(box.id, by_person=False) is False  # a push or the watcher
    db.session.refresh(box)
    assert (box.status, box.attempts) == ("failed", 3)
    assert mailboxes.request_sync(box.id) is True  # *Sync now*
    db.session.refresh(box)
    assert (box.status, box.attempts) == ("pending", 0)


def test_removing_a_mailbox_keeps_its_mail_on_the_timeline(app, db, login):
    box = seed_mailbox()
    prospect = Prospect(email="ana@client.test", name="Ana Lima")
    db.session.add(prospect)
    db.session.commit()
    store(box, [mail(1)])
    db.session.commit()
    process_events()
    mailboxes.remove(box.id)
    assert db.session.execute(select(func.count()).select_from(Mailbox)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(Email)).scalar_one() == 1
    page = login("viewer").get(f"/dashboard/prospects/{prospect.id}").get_data(as_text=True)
    assert "Pricing for a team of 12</strong>" in page
