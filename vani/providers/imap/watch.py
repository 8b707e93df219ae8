"""Listening for new IMAP mail (``flask vani mail watch``): any number of copies may run, and each
mailbox is watched by exactly one of them (it holds the mailbox's lock). One thread per mailbox
keeps a connection, waits on INBOX with IDLE where the server offers it (else polls), and asks for
a sync (``mailboxes.request_sync``) when mail arrives and every ``VANI_MAIL_POLL_SECONDS`` (which
also catches the Sent folder). The syncs run in the workers. Connection trouble is logged and
retried with backoff; a refused password stops that mailbox's thread until it is changed.
"""
from __future__ import annotations

import imaplib
import logging
import threading
import time
from collections.abc import Mapping
from typing import NamedTuple

from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import select

from vani import tenancy
from vani.extensions import db
from vani.mail import mailboxes
from vani.mail.mailboxes import SyncError
from vani.models import Mailbox, MailboxKind, MailboxState
from vani.providers.imap import client as imap_client
from vani.work.leadership import Locks

log = logging.getLogger(__name__)

RELIST_SECONDS = 60.0   # how often the mailbox list is read again
MAX_BACKOFF = 300.0     # the longest wait before reconnecting
SLICE = 1.0             # how often a waiting thread looks at its stop flag
IDLE_MAX = 25 * 60.0    # RFC 2177: end IDLE before the server's 30 minute limit
POLL_SECONDS = 1.0      # how often the locks are checked and free mailboxes taken
LOCK = "vani-mail-watch:{id}"     # held by the copy watching mailbox ``id``
MEMBERS = "vani-mail-watchers"    # shared by every copy running, to count them


class Account(NamedTuple):
    """What a watch needs of its mailbox (read once; a change starts a new watch)."""

    id: int
    org_id: int
    imap_host: str
    imap_port: int
    imap_user: str
    imap_password: str
    imap_ssl: bool


def new_mail(responses) -> bool:
    return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses or ())


def wait_for_mail(client: IMAPClient, timeout: float, stop: threading.Event | None = None) -> bool:
    """Wait up to ``timeout`` seconds on the selected folder: IDLE where the server offers it,
    else wait and then ask (NOOP). True when the server reported new messages."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + max(min(timeout, IDLE_MAX), 0.0)
    if not client.has_capability("IDLE"):
        stop.wait(max(deadline - time.monotonic(), 0.0))
        return new_mail(client.noop()[1])
    client.idle()
    seen = False
    while not seen and not stop.is_set() and time.monotonic() < deadline:
        wait = min(SLICE, max(deadline - time.monotonic(), 0.01))
        started = time.monotonic()
        responses = client.idle_check(timeout=wait)
        if not responses and time.monotonic() - started < wait / 2:  # readable, yet nothing: closed
            raise imaplib.IMAP4.abort("the server closed the connection during IDLE")
        seen = new_mail(responses)
    _, responses = client.idle_done()
    return seen or new_mail(responses)


def accounts() -> dict[int, Account]:
    """Every organisation's IMAP mailboxes worth watching (not waiting for a new password)."""
    with tenancy.everywhere():
        rows = db.session.execute(select(Mailbox).where(
            Mailbox.kind == MailboxKind.IMAP, Mailbox.state != MailboxState.NEEDS_RECONNECT)).scalars().all()
        found = {m.id: Account(m.id, m.org_id, m.imap_host, m.imap_port, m.imap_user, m.imap_password or "",
                               bool(m.imap_ssl)) for m in rows if m.imap_host and m.imap_user}
    db.session.remove()
    return found


class MailboxWatch(threading.Thread):
    """Watches one mailbox until ``stop`` is set (or its password is refused: ``refused``)."""

    def __init__(self, app: Flask, account: Account, cfg: Mapping):
        super().__init__(name=f"imap-watch-{account.id}", daemon=True)
        self.app, self.account, self.cfg = app, account, cfg
        self.stop = threading.Event()
        self.refused = False
        self.syncs_requested = 0
        self.backoff = 1.0

    def run(self) -> None:
        with self.app.app_context():
            while not self.stop.is_set():
                try:
                    self.watch()
                except SyncError as exc:
                    if exc.reconnect:
                        log.warning("mailbox %s: %s; not watching it until the password is changed",
                                    self.account.id, exc.message)
                        self.refused = True
                        self.request_sync()  # the sync records it on the mailbox
                        return
                    log.warning("mailbox %s: %s; reconnecting in %.0f s", self.account.id, exc.message, self.backoff)
                except Exception:  # never let one mailbox's surprise end the watcher
                    log.exception("mailbox %s: the watch failed; reconnecting in %.0f s", self.account.id, self.backoff)
                finally:
                    db.session.remove()
                self.stop.wait(self.backoff)
                self.backoff = min(self.backoff * 2, MAX_BACKOFF)

    def watch(self) -> None:
        poll = float(max(int(self.cfg.get("VANI_MAIL_POLL_SECONDS", 60)), 1))
        with imap_client.session(self.account, self.cfg) as client:
            client.select_folder("INBOX", readonly=True)
            idle = client.has_capability("IDLE")
            log.info("mailbox %s: watching INBOX (%s)", self.account.id, "IDLE" if idle else f"polling every {poll:.0f} s")
            self.request_sync()  # whatever came while nobody listened
            while not self.stop.is_set():
                wait_for_mail(client, poll, self.stop)
                self.backoff = 1.0  # a wait that ended normally: the connection is sound
                if not self.stop.is_set():
                    self.request_sync()

    def request_sync(self) -> None:
        try:
            with tenancy.acting_for(self.account.org_id):
                mailboxes.request_sync(self.account.id, by_person=False)
            self.syncs_requested += 1
        except Exception as exc:  # the database or Redis away: the next wake-up asks again
            db.session.rollback()
            log.warning("mailbox %s: could not ask for a sync: %s", self.account.id, exc)
        finally:
            db.session.remove()


class Watcher:
    """Watches the mailboxes this copy holds the lock of, re-reading the list every ``relist`` s.

    Each mailbox has a lock (``vani.work.leadership``): any number of copies may run, and each
    mailbox is watched by exactly one of them. Every ``poll`` seconds a copy checks the locks it
    holds (a watch whose lock was lost stops at once), takes free mailboxes up to its fair share
    (the mailboxes divided by the copies running) and lets go of any above it, so copies started
    one after another still share the mailboxes; a copy that dies leaves its mailboxes to the
    others within a poll or two."""

    def __init__(self, app: Flask, relist: float = RELIST_SECONDS, locks: Locks | None = None,
                 poll: float = POLL_SECONDS):
        self.app, self.relist, self.poll = app, relist, poll
        self.locks = locks or Locks(app.config["SQLALCHEMY_DATABASE_URI"])
        self.watches: dict[int, MailboxWatch] = {}
        self.refused: set[Account] = set()
        self.wanted: dict[int, Account] = {}
        self.held: set[int] = set()  # the mailboxes whose lock this copy holds
        self.listed_at: float | None = None
        self.elsewhere: int | None = None  # mailboxes other copies watch, as last logged

    def refresh(self) -> None:
        if self.listed_at is None or time.monotonic() - self.listed_at >= self.relist:
            self.listed_at = time.monotonic()
            with self.app.app_context():
                try:
                    self.wanted = accounts()
                except Exception as exc:  # the database away: keep the list
                    log.warning("could not read the mailboxes: %s", exc)
                    db.session.remove()
        self.balance()
        for mailbox_id, watch in list(self.watches.items()):
            if watch.refused:
                self.refused.add(watch.account)
            if mailbox_id not in self.held or self.wanted.get(mailbox_id) != watch.account or not watch.is_alive():
                watch.stop.set()
                del self.watches[mailbox_id]
        self.refused &= set(self.wanted.values())  # a changed password gets another try
        for mailbox_id in sorted(self.held):
            account = self.wanted[mailbox_id]
            if mailbox_id not in self.watches and account not in self.refused:
                self.watches[mailbox_id] = MailboxWatch(self.app, account, self.app.config)
                self.watches[mailbox_id].start()

    def balance(self) -> None:
        """Hold the locks of this copy's share of the wanted mailboxes, and only those."""
        still = {_mailbox_of(name) for name in self.locks.verify()}
        for mailbox_id in self.held - still:
            log.warning("mailbox %s: its lock was lost; another copy may watch it now", mailbox_id)
            self._stop(mailbox_id)
        self.held &= still
        self._let_go(self.held - set(self.wanted))  # deleted, or waiting for a new password
        share = -(-len(self.wanted) // self.locks.members(MEMBERS))
        free = [LOCK.format(id=i) for i in sorted(self.wanted) if i not in self.held]
        if free and len(self.held) < share:
            self.held |= {_mailbox_of(name) for name in self.locks.try_lead_many(free)}
        above = sorted(self.held, reverse=True)[:max(len(self.held) - share, 0)]
        self._let_go(set(above))  # for a copy below its share to take
        elsewhere = len(self.wanted) - len(self.held)
        if elsewhere != self.elsewhere:
            log.info("watching %d mailbox(es) here, %d in other copies", len(self.held), elsewhere)
            self.elsewhere = elsewhere

    def _stop(self, mailbox_id: int) -> None:
        watch = self.watches.pop(mailbox_id, None)
        if watch is not None:
            watch.stop.set()

    def _let_go(self, mailbox_ids: set[int], timeout: float = 10.0) -> None:
        """Stop these mailboxes' watches, wait for their connections to close (before another copy
        opens one), and release their locks."""
        stopping = [self.watches.pop(i) for i in mailbox_ids if i in self.watches]
        for watch in stopping:
            watch.stop.set()
        deadline = time.monotonic() + timeout
        for watch in stopping:
            watch.join(max(deadline - time.monotonic(), 0.1))
        for mailbox_id in mailbox_ids:
            self.locks.resign(LOCK.format(id=mailbox_id))
            self.held.discard(mailbox_id)

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set, then stop every thread and let go of every lock."""
        log.info("watching IMAP mailboxes (the list is read again every %.0f s)", self.relist)
        try:
            while not stop.is_set():
                self.refresh()
                stop.wait(self.poll)
        finally:
            self.stop_all()
            self.locks.close()
            self.held.clear()

    def stop_all(self, timeout: float = 10.0) -> None:
        for watch in self.watches.values():
            watch.stop.set()
        deadline = time.monotonic() + timeout
        for watch in self.watches.values():
            watch.join(max(deadline - time.monotonic(), 0.1))
        self.watches.clear()


def _mailbox_of(lock_name: str) -> int:
    return int(lock_name.rpartition(":")[2])
