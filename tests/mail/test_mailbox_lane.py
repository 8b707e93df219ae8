"""The mailbox_syncs lane: a due mailbox is claimed and synced once; failures are retried with
backoff and shown; refused credentials wait for a person; a push during a sync syncs again."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.seed import seed_mailbox
from tests.work.helpers import drain
from vani.mail import mailboxes, sync
from vani.mail.mailboxes import SyncError
from vani.models import Mailbox
from vani.models.base import as_utc, utcnow
from vani.providers.imap import sync as imap_sync


@pytest.fixture
def syncer(monkeypatch):
    """Replace the IMAP sync with a script of outcomes; records the calls."""
    calls, script = [], []

    def fake(mailbox, cfg):
        calls.append(mailbox.id)
        outcome = script.pop(0) if script else 0
        if isinstance(outcome, Exception):
            raise outcome
        if callable(outcome):
            return outcome(mailbox)
        return outcome

    monkeypatch.setattr(imap_sync, "sync", fake)
    return calls, script


def fresh(db, mailbox_id: int) -> Mailbox:
    return db.session.get(Mailbox, mailbox_id, populate_existing=True)


def test_a_due_mailbox_is_synced_once(app, db, syncer):
    calls, _ = syncer
    box = seed_mailbox()
    assert drain(sync.MAILBOX_SYNCS) == 0  # idle: nothing due
    assert mailboxes.request_sync(box.id) is True
    assert drain(sync.MAILBOX_SYNCS) == 1 and calls == [box.id]
    box = fresh(db, box.id)
    assert (box.status, box.state, box.last_error) == ("idle", "connected", None) and box.last_sync_at


def test_failures_are_retried_and_shown_then_recover(app, db, syncer):
    calls, script = syncer
    script += [SyncError("connection refused by imap.example.com:993"), 2]
    box = seed_mailbox()
    mailboxes.request_sync(box.id)
    now = utcnow()
    drain(sync.MAILBOX_SYNCS, now)
    box = fresh(db, box.id)
    assert (box.status, box.state, box.last_error) == ("failed", "error", "connection refused by imap.example.com:993")
    assert as_utc(box.next_attempt_at) > now
    assert drain(sync.MAILBOX_SYNCS, now + timedelta(seconds=5)) == 0  # waits its turn
    drain(sync.MAILBOX_SYNCS, now + timedelta(minutes=5))
    box = fresh(db, box.id)
    assert (box.status, box.state, box.last_error) == ("idle", "connected", None) and len(calls) == 2


def test_a_bug_in_a_sync_is_a_failure_not_a_crash(app, db, syncer):
    _, script = syncer
    script.append(KeyError("uidvalidity"))
    box = seed_mailbox()
    mailboxes.request_sync(box.id)
    drain(sync.MAILBOX_SYNCS)
    box = fresh(db, box.id)
    assert box.status == "failed" and "KeyError" in box.last_error


def test_refused_credentials_wait_for_a_person(app, db, syncer):
    calls, script = syncer
    script.append(SyncError("LOGIN failed: authentication failed", reconnect=True))
    box = seed_mailbox()
    mailboxes.request_sync(box.id)
    drain(sync.MAILBOX_SYNCS)
    box = fresh(db, box.id)
    assert (box.status, box.state) == ("dead", "needs_reconnect")
    assert drain(sync.MAILBOX_SYNCS, utcnow() + timedelta(days=2)) == 0 and len(calls) == 1
    assert mailboxes.request_sync(box.id) is True  # *Sync now* after fixing the password
    drain(sync.MAILBOX_SYNCS)
    assert fresh(db, box.id).state == "connected"


def test_a_push_during_a_sync_syncs_again_after(app, db, syncer):
    calls, script = syncer

    def push_meanwhile(mailbox):
        assert mailboxes.mark_due(mailbox.id) is False  # it is syncing: marked to go again
        return 1

    script += [push_meanwhile, 0]
    box = seed_mailbox()
    mailboxes.request_sync(box.id)
    drain(sync.MAILBOX_SYNCS)
    assert len(calls) == 2 and fresh(db, box.id).status == "idle"
