"""IMAP mailboxes against a real Dovecot: INBOX and Sent become processed events and emails
linked to prospects, once; a renumbered folder, a dropped server and a wrong password are survived;
``flask vani mail sync``; the watcher's IDLE wait and its threads."""
from __future__ import annotations

import imaplib
import threading
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from tests.providers.imap import dovecot as dovecot_server
from tests.work.helpers import drain
from vani.mail import mailboxes
from vani.mail.mailboxes import SyncError
from vani.mail.sync import MAILBOX_SYNCS
from vani.models import Email, Mailbox, MailboxFolder, Prospect, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.processing.events import EVENTS
from vani.providers.imap import client as imap_client
from vani.providers.imap import watch as imap_watch

OWN = "sales@example.com"
dovecot = dovecot_server.dovecot  # the fixture: a throwaway Dovecot


def message(n: int, sender: str = "ana@client.test", to: str = OWN, subject: str = "Pricing for 12 seats",
            reply_to: str | None = None, html: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ana Lima <{sender}>", to, subject
    msg["Message-ID"], msg["Date"] = f"<m{n}@client.test>", "Mon, 30 Nov 2026 10:00:00 +0000"
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = reply_to
    msg.set_content(f"Hello team, message {n}: can we talk on Tuesday? " + "Details follow. " * 80)
    if html:
        msg.add_alternative(f"<p>Hello <b>team</b>, message {n}</p>", subtype="html")
    return msg.as_bytes()


def append(server, folder: str, *messages: bytes) -> None:
    client = server.client()
    try:
        for raw in messages:
            client.append(folder, raw)
    finally:
        client.logout()


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def add_prospect(db, email: str = "ana@client.test") -> int:
    prospect = Prospect(email=email, name="Ana Lima")
    db.session.add(prospect)
    db.session.commit()
    return prospect.id


def reload(db, mailbox_id: int) -> Mailbox:
    db.session.expire_all()
    return db.session.get(Mailbox, mailbox_id)


def sync_again(db, mailbox_id: int) -> None:
    mailboxes.request_sync(mailbox_id)
    drain(MAILBOX_SYNCS)
    drain(EVENTS)
    db.session.expire_all()


def test_inbox_and_sent_become_processed_events_and_emails(app, db, dovecot, run_worker):
    prospect_id = add_prospect(db)
    subject = "=?utf-8?q?Pre=C3=A7os_para_12?="  # RFC 2047: "Preços para 12"
    append(dovecot, "INBOX", message(1, subject=subject, html=True), message(2, sender="news@letters.test"))
    append(dovecot, "Sent", message(3, sender=OWN, to="Ana <ana@client.test>", reply_to="<m1@client.test>"))
    mailbox_id = mailboxes.add_imap(dovecot.form()).id
    run_worker()  # the mailbox sync, then the events it stored (a real worker)

    mailbox = reload(db, mailbox_id)
    assert (mailbox.state, mailbox.status, mailbox.last_error) == ("connected", "idle", None)
    events = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars().all()
    assert sorted((e.provider, e.event_type, e.status) for e in events) == [
        ("imap", "email.received", "processed"), ("imap", "email.received", "processed"),
        ("imap", "email.sent", "processed")]
    emails = {e.message_id: e for e in db.session.execute(select(Email)).scalars()}
    first, newsletter, reply = emails["<m1@client.test>"], emails["<m2@client.test>"], emails["<m3@client.test>"]
    assert (first.direction, first.prospect_id, first.from_address, first.from_name) == (
        "inbound", prospect_id, "ana@client.test", "Ana Lima")
    assert first.subject == "Preços para 12" and first.to == [OWN]
    assert first.snippet.startswith("Hello team, message 1: can we talk on Tuesday?") and len(first.snippet) <= 200
    assert first.provider_message_id.startswith("INBOX/") and first.provider_message_id.endswith("/1")
    assert (reply.direction, reply.prospect_id, reply.to, reply.thread_id) == (
        "outbound", prospect_id, ["ana@client.test"], "<m1@client.test>")
    assert newsletter.prospect_id is None and count(db, Prospect) == 1  # an unknown sender makes no prospect
    positions = {f.name: f.last_uid for f in db.session.execute(select(MailboxFolder)).scalars()}
    assert positions == {"INBOX": 2, "Sent": 1}

    sync_again(db, mailbox_id)  # nothing new: nothing stored
    assert count(db, WebhookEvent) == 3 and count(db, Email) == 3
    append(dovecot, "INBOX", message(4))
    sync_again(db, mailbox_id)
    assert count(db, WebhookEvent) == 4 and emails_of(db, "<m4@client.test>").prospect_id == prospect_id


def emails_of(db, message_id: str) -> Email:
    return db.session.execute(select(Email).where(Email.message_id == message_id)).scalar_one()


def test_mail_sync_command_reads_the_settings_mailbox_and_processes(app, db, dovecot):
    add_prospect(db)
    append(dovecot, "INBOX", message(1))
    append(dovecot, "Sent", message(2, sender=OWN, to="ana@client.test"))
    app.config.update(IMAP_HOST=dovecot.host, IMAP_PORT=dovecot.port, IMAP_USER=dovecot.user,
                      IMAP_PASSWORD=dovecot.password, IMAP_SSL=False, IMAP_FOLDERS="INBOX,Sent Items,Drafts")
    result = app.test_cli_runner().invoke(args=["vani", "mail", "sync", "--process"])
    assert result.exit_code == 0, result.output
    # "Sent Items" is not there: the folder flagged \Sent is read in its place; Drafts is reported.
    assert f"imap {OWN}: 2 new message(s); INBOX (last UID 1), Sent (last UID 1); not on the server: Drafts\n" \
        in result.output
    assert "processed 2 event(s)" in result.output
    db.session.expire_all()
    assert sorted(db.session.execute(select(Email.direction)).scalars()) == ["inbound", "outbound"]
    assert count(db, Email, Email.prospect_id.is_(None)) == 0

    again = app.test_cli_runner().invoke(args=["vani", "mail", "sync", "--org", "default"])
    assert again.exit_code == 0 and f"imap {OWN}: 0 new message(s)" in again.output, again.output
    assert count(db, Mailbox) == 1 and count(db, WebhookEvent) == 2


def test_mail_sync_command_leaves_a_refused_mailbox_alone(app, db, dovecot):
    mailboxes.add_imap(dovecot.form(password="not-the-password"))
    first = app.test_cli_runner().invoke(args=["vani", "mail", "sync"])
    assert first.exit_code == 1 and f"imap {OWN}: needs_reconnect: " in first.output
    assert "refused the user name or password" in first.output
    second = app.test_cli_runner().invoke(args=["vani", "mail", "sync"])
    assert second.exit_code == 1 and "(not tried: give the password again)" in second.output
    assert dovecot.log().count("auth failed") == 1  # one refused login, not one per run


def test_a_renumbered_folder_is_read_again_without_duplicates(app, db, dovecot):
    add_prospect(db)
    client = dovecot.client()
    client.create_folder("Archive")
    client.logout()
    append(dovecot, "Archive", message(1), message(2))
    mailbox = mailboxes.add_imap(dovecot.form(folders="INBOX,Archive"))
    drain(MAILBOX_SYNCS)
    before = db.session.execute(select(MailboxFolder).where(MailboxFolder.name == "Archive")).scalar_one()
    old_validity = before.uidvalidity
    assert before.last_uid == 2 and count(db, WebhookEvent) == 2

    client = dovecot.client()
    client.delete_folder("Archive")
    client.create_folder("Archive")
    client.logout()
    append(dovecot, "Archive", message(2), message(1), message(3))  # the same two again, and a new one
    sync_again(db, mailbox.id)
    after = db.session.execute(select(MailboxFolder).where(MailboxFolder.name == "Archive")).scalar_one()
    assert after.uidvalidity != old_validity and after.last_uid == 3
    assert reload(db, mailbox.id).state == "connected"
    assert count(db, WebhookEvent) == 3 and count(db, Email) == 3
    assert sorted(db.session.execute(select(Email.message_id)).scalars()) == [
        "<m1@client.test>", "<m2@client.test>", "<m3@client.test>"]


def test_a_server_that_goes_away_is_retried_until_it_is_back(app, db, dovecot):
    append(dovecot, "INBOX", message(1))
    mailbox = mailboxes.add_imap(dovecot.form())
    dovecot.stop()
    drain(MAILBOX_SYNCS)
    down = reload(db, mailbox.id)
    assert (down.state, down.status) == ("error", "failed")
    assert "could not connect" in down.last_error and as_utc(down.next_attempt_at) > utcnow()
    assert count(db, WebhookEvent) == 0

    dovecot.start()
    drain(MAILBOX_SYNCS)  # not yet due: the backoff holds
    assert reload(db, mailbox.id).status == "failed"
    drain(MAILBOX_SYNCS, now=as_utc(down.next_attempt_at) + timedelta(seconds=1))  # the retry
    up = reload(db, mailbox.id)
    assert (up.state, up.status, up.last_error) == ("connected", "idle", None) and count(db, WebhookEvent) == 1


def test_a_connection_dropped_mid_session_is_a_retried_error(app, db, dovecot):
    mailbox = mailboxes.add_imap(dovecot.form())
    with pytest.raises(SyncError) as caught:
        with imap_client.session(mailbox, app.config) as client:
            client.select_folder("INBOX", readonly=True)
            dovecot.stop()
            client.select_folder("Sent", readonly=True)
    assert not caught.value.reconnect and "failed" in caught.value.message


def test_a_wrong_password_needs_a_reconnect_and_is_not_retried(app, db, dovecot):
    mailbox = mailboxes.add_imap(dovecot.form(password="not-the-password"))
    drain(MAILBOX_SYNCS)
    box = reload(db, mailbox.id)
    assert (box.state, box.status, box.next_attempt_at) == ("needs_reconnect", "dead", None)
    assert "refused the user name or password" in box.last_error
    assert drain(MAILBOX_SYNCS, now=utcnow() + timedelta(days=2)) == 0


def test_wait_for_mail_returns_when_mail_arrives(app, dovecot):
    client = dovecot.client()
    try:
        client.select_folder("INBOX", readonly=True)
        started = time.monotonic()
        assert imap_watch.wait_for_mail(client, 0.3) is False and time.monotonic() - started < 3
        later = threading.Timer(0.3, append, (dovecot, "INBOX", message(1)))
        later.start()
        started = time.monotonic()
        assert imap_watch.wait_for_mail(client, 20) is True
        assert time.monotonic() - started < 10
        later.join()
        client.noop()  # the connection is still usable after IDLE
    finally:
        client.logout()


def test_wait_for_mail_polls_without_idle_and_notices_a_dropped_connection(app, dovecot):
    client = dovecot.client()
    try:
        client.select_folder("INBOX", readonly=True)
        client.has_capability = lambda name: name != "IDLE"  # a server without IDLE: wait, then NOOP
        append(dovecot, "INBOX", message(1))
        started = time.monotonic()
        assert imap_watch.wait_for_mail(client, 0.5) is True and 0.4 < time.monotonic() - started < 5
        assert imap_watch.wait_for_mail(client, 0.2) is False
        del client.has_capability
        threading.Timer(0.3, dovecot.stop).start()
        started = time.monotonic()
        with pytest.raises(imaplib.IMAP4.abort):  # SyncError once inside imap_client.session
            imap_watch.wait_for_mail(client, 30)
        assert time.monotonic() - started < 10
    finally:
        client.shutdown()


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def run_watcher(app, relist: float = 0.2):
    watcher, stop = imap_watch.Watcher(app, relist=relist), threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    return watcher, stop, thread


def stop_watcher(watcher, stop, thread) -> None:
    stop.set()
    thread.join(15)
    assert not thread.is_alive() and watcher.watches == {}


def test_the_watcher_asks_for_a_sync_when_mail_arrives(app, db, dovecot):
    mailbox_id = mailboxes.add_imap(dovecot.form()).id
    drain(MAILBOX_SYNCS)  # the first sync: the mailbox is idle again
    app.config["VANI_MAIL_POLL_SECONDS"] = 600  # only IDLE can wake it within the test
    watcher, stop, thread = run_watcher(app)
    try:
        assert wait_until(lambda: mailbox_id in watcher.watches and watcher.watches[mailbox_id].syncs_requested == 1)
        db.session.execute(Mailbox.__table__.update().values(status="idle"))  # as if a worker synced
        db.session.commit()
        append(dovecot, "INBOX", message(1))
        assert wait_until(lambda: watcher.watches[mailbox_id].syncs_requested == 2)
        assert reload(db, mailbox_id).status == "pending"
    finally:
        stop_watcher(watcher, stop, thread)
    drain(MAILBOX_SYNCS)
    assert count(db, WebhookEvent) == 1


def test_the_watcher_tries_a_refused_password_once(app, db, dovecot):
    mailbox_id = mailboxes.add_imap(dovecot.form(password="not-the-password")).id
    db.session.execute(Mailbox.__table__.update().values(status="idle"))
    db.session.commit()
    watcher, stop, thread = run_watcher(app, relist=0.05)
    try:
        assert wait_until(lambda: len(watcher.refused) == 1 and not watcher.watches)
        time.sleep(0.3)  # a few more looks at the list: no new try
        assert dovecot.log().count("auth failed") == 1 and not watcher.watches
    finally:
        stop_watcher(watcher, stop, thread)
    assert reload(db, mailbox_id).status == "pending"  # it asked for a sync, which records the refusal
