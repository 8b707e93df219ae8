"""Several mail watchers against one Dovecot: each mailbox is watched by exactly one of them (one
IDLE connection), copies share the mailboxes out, and when the copy watching a mailbox is killed
another takes it over within seconds."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.deploy.services import Processes, wait_for
from tests.providers.imap import dovecot as dovecot_server
from tests.work.helpers import drain
from vani.mail import mailboxes
from vani.mail.sync import MAILBOX_SYNCS
from vani.providers.imap.watch import Watcher

ROOT = Path(__file__).resolve().parents[3]
dovecot = dovecot_server.dovecot  # the fixture: a throwaway Dovecot
# ``flask vani mail watch`` with its INFO lines shown (the testing settings configure no logging)
WATCH = ("import logging, sys; from flask.cli import main; logging.basicConfig(level=logging.INFO); "
         "sys.argv = ['flask', '--app', 'run', 'vani', 'mail', 'watch']; main()")


@pytest.fixture
def watchers(app):
    """Two watchers in this process, each with locks of its own (as two copies would have)."""
    made = [Watcher(app, relist=0), Watcher(app, relist=0)]
    yield made
    for watcher in made:
        watcher.stop_all()
        watcher.locks.close()


def add_mailboxes(dovecot, count: int) -> list[int]:
    ids = [mailboxes.add_imap(dovecot.form(user=f"sales{n}@example.com")).id for n in range(count)]
    drain(MAILBOX_SYNCS)  # the first syncs: the mailboxes are idle again
    return ids


def test_two_watchers_one_mailbox_one_connection_and_a_take_over(app, db, dovecot, watchers):
    [mailbox_id] = add_mailboxes(dovecot, 1)
    first, second = watchers
    first.refresh()
    second.refresh()
    assert list(first.watches) == [mailbox_id] and second.watches == {}
    wait_for(lambda: len(dovecot.connected()) == 1, 15, "the watch connects", dovecot.log)
    second.refresh()
    assert second.watches == {} and len(dovecot.connected()) == 1
    first.stop_all()
    first.locks.close()  # as when the copy ends: its locks go with it
    second.refresh()
    assert list(second.watches) == [mailbox_id]
    wait_for(lambda: second.watches[mailbox_id].syncs_requested == 1, 15, "the new watch asks for a sync", dovecot.log)
    assert len(dovecot.connected()) == 1


def test_copies_share_the_mailboxes_out(app, db, dovecot, watchers):
    ids = add_mailboxes(dovecot, 4)
    first, second = watchers
    first.refresh()  # alone: it takes them all
    assert set(first.held) == set(ids)
    second.refresh()  # joins: on PostgreSQL the first lets half go on its next look, the second takes them
    first.refresh()
    second.refresh()
    assert first.held.isdisjoint(second.held) and first.held | second.held == set(ids)
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql":
        assert (len(first.held), len(second.held)) == (2, 2)
    else:  # one machine: the first copy keeps them
        assert second.held == set()
    assert set(first.watches) | set(second.watches) == set(ids)
    assert set(first.watches).isdisjoint(second.watches)


@pytest.mark.slow
def test_two_watch_processes_one_connection_and_a_killed_holder_is_replaced(app, db, dovecot, tmp_path):
    add_mailboxes(dovecot, 1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VANI_ENV": "testing", "VANI_ALLOW_ANY_PORT": "1",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": "redis://127.0.0.1:1/0",
           "VANI_MAIL_POLL_SECONDS": "600"}
    processes = Processes(tmp_path / "logs")
    argv = [sys.executable, "-c", WATCH]
    try:
        first = processes.start("first", argv, env, ROOT)
        holder = wait_for(dovecot.connected, 30, "the first watcher connects", processes.logs)
        assert holder == [first.pid]
        second = processes.start("second", argv, env, ROOT)
        wait_for(lambda: "watching 0 mailbox(es) here, 1 in other copies" in processes.log("second"), 30,
                 "the second watcher finds the mailbox taken", processes.logs)
        assert dovecot.connected() == [first.pid]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        wait_for(lambda: dovecot.connected() == [second.pid], 15, "the second watcher takes the mailbox over",
                 processes.logs)
        assert second.poll() is None, processes.logs()
    finally:
        processes.stop_all()
