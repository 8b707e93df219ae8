"""The organisation's mailboxes: adding IMAP ones, asking for a sync, reading their state."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update

from vani import egress, work
from vani.errors import Conflict, InvalidField, NotFound
from vani.extensions import db
from vani.models import Mailbox, MailboxKind, MailboxState, SyncStatus
from vani.models.base import utcnow
from vani.payloads.safejson import clean_text
from vani.work import effects

WAKEABLE = (SyncStatus.IDLE, SyncStatus.FAILED, SyncStatus.DEAD)


class SyncError(Exception):
    """A sync could not finish. ``reconnect``: the credentials were refused (a person must act;
    not retried); otherwise retried with backoff."""

    def __init__(self, message: str, reconnect: bool = False):
        super().__init__(message)
        self.message, self.reconnect = message, reconnect


def all_mailboxes() -> list[Mailbox]:
    return list(db.session.execute(select(Mailbox).order_by(Mailbox.kind, Mailbox.address)).scalars())


def get(mailbox_id: int) -> Mailbox:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox


def by_address(kind: MailboxKind, address: str) -> Mailbox | None:
    return db.session.execute(select(Mailbox).where(
        Mailbox.kind == kind, Mailbox.address == address.strip().lower())).scalar_one_or_none()


def folders_from(text: str | None, default: str = "INBOX,Sent") -> list[str]:
    names = [clean_text(f).strip() for f in (text or default).split(",")]
    return [n[:255] for n in names if n][:20]


def add_imap(form: Mapping) -> Mailbox:
    """Add (or update) an IMAP mailbox from ``host``, ``port``, ``user``, ``password``, ``ssl``,
    ``folders`` and ``address`` (default: the user name); commits and asks for a first sync."""
    host = clean_text(str(form.get("host") or "")).strip()
    user = clean_text(str(form.get("user") or "")).strip()
    password = clean_text(str(form.get("password") or ""))
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise InvalidField("host", "give the IMAP server's host name")
    if not user or len(user) > 320:
        raise InvalidField("user", "give the IMAP user name")
    try:
        port = int(form.get("port") or 993)
    except (TypeError, ValueError):
        raise InvalidField("port", "a port number") from None
    if not 0 < port < 65536:
        raise InvalidField("port", "a port number")
    egress.check_host(host, port, egress.Kind.IMAP)  # the SSRF guard: IMAP ports, no private or loopback host
    address = clean_text(str(form.get("address") or user)).strip().lower()
    if "@" not in address or len(address) > 320:
        raise InvalidField("address", "give the mailbox's email address")
    ssl = form.get("ssl") not in (False, "0", "off", "false", "no", "")
    if "ssl" not in form:
        ssl = True
    mailbox = by_address(MailboxKind.IMAP, address)
    moved = mailbox is not None and (mailbox.imap_host, mailbox.imap_port, mailbox.imap_user, mailbox.imap_ssl) \
        != (host, port, user, ssl)
    if (mailbox is None or moved) and not password:  # the stored password only ever goes where it went
        raise InvalidField("password", "give the IMAP password" if mailbox is None else
                           "give the password again to change the server, port, user or TLS")
    if mailbox is None:
        mailbox = Mailbox(kind=MailboxKind.IMAP, address=address)
        db.session.add(mailbox)
    mailbox.imap_host, mailbox.imap_port, mailbox.imap_user, mailbox.imap_ssl = host, port, user, ssl
    if password:
        mailbox.imap_password = password
    mailbox.folders = folders_from(form.get("folders"))
    mailbox.state, mailbox.status, mailbox.next_attempt_at = MailboxState.CONNECTED, SyncStatus.PENDING, utcnow()
    mailbox.last_error = None
    wake()
    db.session.commit()
    return mailbox


def remove(mailbox_id: int) -> None:
    mailbox = get(mailbox_id)
    if mailbox.status == SyncStatus.SYNCING:
        raise Conflict("the mailbox is syncing right now: try again in a moment")
    db.session.delete(mailbox)
    db.session.commit()


def mark_due(mailbox_id: int, by_person: bool = False) -> bool:
    """Make the mailbox's sync due now (no commit). A push or a watcher wakes only a resting
    mailbox: a failing one keeps its backoff, a dead one waits for a person. ``by_person``
    (*Sync now*, a new connection) starts over whatever the state. A mailbox syncing right now
    is marked to sync again when it finishes. True when a sync was made due."""
    now = utcnow()
    states = WAKEABLE if by_person else (SyncStatus.IDLE,)
    due = db.session.execute(update(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.status.in_(states)).values(
        status=SyncStatus.PENDING, next_attempt_at=now, attempts=0)).rowcount
    if not due:
        db.session.execute(update(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.status == SyncStatus.SYNCING)
                           .values(sync_again=True))
    return bool(due)


def request_sync(mailbox_id: int, by_person: bool = True) -> bool:
    """*Sync now* (or, with ``by_person`` False, the watcher's wake-up): commits and wakes a worker."""
    due = mark_due(mailbox_id, by_person)
    wake()
    db.session.commit()
    return due


def wake() -> None:
    """Have a mailbox worker look at due syncs once this transaction is committed."""
    effects.wake(work.get("mailbox_syncs"))
