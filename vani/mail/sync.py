"""The ``mailbox_syncs`` lane: a mailbox is an item of work while a sync is due.

A push, an IMAP IDLE wake-up, the poll or *Sync now* makes a mailbox ``pending``; a worker
claims it (lease, fencing token) and runs its provider's syncer (the provider named by its kind), which stores new mail as events and
moves the mailbox's position in the same transaction. Failures are retried with backoff and
shown on the mailbox page; refused credentials stop the retries until someone reconnects.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from vani import plugins, work
from vani.extensions import db
from vani.mail.mailboxes import SyncError
from vani.models import Mailbox, MailboxState, SyncStatus
from vani.models.base import utcnow
from vani.processing import events
from vani.work import effects

log = logging.getLogger(__name__)

def policy(cfg: Mapping) -> work.RetryPolicy:
    """30 s, 1 min, 2 min … at most 30 min between tries; dead after a day of failing."""
    return work.RetryPolicy.doubling(timedelta(seconds=30), timedelta(minutes=30), 52,
                                     0.1 if cfg.get("VANI_RETRY_JITTER", True) else 0.0)


def lease(cfg: Mapping) -> timedelta:
    """Long enough for a sync of hundreds of messages (a sync run twice stores nothing twice)."""
    return timedelta(seconds=max(int(cfg.get("VANI_MAIL_TIMEOUT_SECONDS", 30)), 5) * 20)


def sync_one(claim: work.Claim, mailbox_id: int) -> None:
    mailbox = db.session.get(Mailbox, mailbox_id, populate_existing=True)
    if mailbox is None:
        return
    cfg = current_app.config
    try:
        new = plugins.installed().get(mailbox.kind).syncer.sync(mailbox, cfg)
    except SyncError as exc:
        db.session.rollback()
        _failed(claim, mailbox_id, exc.message, exc.reconnect)
        return
    except Exception as exc:  # a bug or an unexpected answer must not stop the worker
        db.session.rollback()
        log.exception("mailbox %s: the sync failed", mailbox_id)
        _failed(claim, mailbox_id, f"{type(exc).__name__}: {exc}"[:500], False)
        return
    now = utcnow()
    if claim.done(mailbox_id, SyncStatus.IDLE, state=MailboxState.CONNECTED, last_error=None, last_sync_at=now,
                  next_attempt_at=None):
        db.session.execute(update(Mailbox.__table__).where(  # a push that came during the sync: go again
            Mailbox.id == mailbox_id, Mailbox.sync_again.is_(True)).values(
            status=SyncStatus.PENDING, next_attempt_at=now, sync_again=False))
    if new:
        effects.wake(events.EVENTS)
    db.session.commit()


def _failed(claim: work.Claim, mailbox_id: int, message: str, reconnect: bool) -> None:
    if reconnect:
        claim.write([(mailbox_id, SyncStatus.DEAD, {"state": MailboxState.NEEDS_RECONNECT, "next_attempt_at": None,
                                                     "last_error": message[:2000]})])
    else:
        status, columns = claim.failure(mailbox_id, message)
        claim.write([(mailbox_id, status, {**columns, "state": MailboxState.ERROR})])
    db.session.commit()


MAILBOX_SYNCS = work.Lane(
    name="mailbox_syncs", model=Mailbox,
    ready=(SyncStatus.PENDING, SyncStatus.FAILED), running=SyncStatus.SYNCING,
    retry=SyncStatus.FAILED, dead=SyncStatus.DEAD,
    handler=work.one_by_one(sync_one), policy=policy, lease=lease, batch=5, parallel=2,
)
