"""Mail that tries to break the sync, settings changes that could leak a password, and the
wake-ups that must not defeat a failing mailbox's backoff."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.dashboard_seed import seed_mailbox
from tests.factories import mail
from tests.work_support import process_events
from vani.errors import InvalidField
from vani.mail import mailboxes
from vani.mail.store import EmailIn, store
from vani.models import Email, Mailbox, Prospect
from vani.providers.imap import client as imap_client
from vani.providers.imap import sync as imap_sync


def test_impossible_dates_and_charsets_are_read_not_raised():
    assert imap_client.as_utc(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1)))) is None
    assert imap_client.snippet(b"hello there", False, b"7bit", "idna") == "hello there"
    assert imap_client.snippet(b"hi", False, b"7bit", "no-such-charset") == "hi"


def test_one_unreadable_message_does_not_stop_its_folder(monkeypatch):
    class Client:
        def fetch(self, uids, items):
            return {uid: {b"INTERNALDATE": datetime(2026, 11, 29, 9, uid, tzinfo=timezone.utc),
                          b"BODYSTRUCTURE": ()} for uid in uids}

    real = imap_sync.email_in

    def email_in(answer, folder, uidvalidity, uid, outbound, snippet):
        if uid == 2:
            raise UnicodeError("a header no codec can read")
        return real(answer, folder, uidvalidity, uid, outbound, snippet)

    monkeypatch.setattr(imap_sync, "email_in", email_in)
    items = imap_sync.fetch(Client(), [1, 2, 3], "INBOX", 7, False)
    assert [i.provider_message_id for i in items] == ["INBOX/7/1", "INBOX/7/2", "INBOX/7/3"]
    assert items[1].from_address is None and items[1].date == datetime(2026, 11, 29, 9, 2, tzinfo=timezone.utc)


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
