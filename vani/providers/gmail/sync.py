"""Gmail: history sync from the stored ``historyId`` (``users.history.list`` then
``users.messages.get``), a bounded resync when the history is too old, and ``users.watch``.

A sync reads what was added since the mailbox's ``history_id``, page by page, fetches each new
message's headers and snippet, stores them as events and moves ``history_id`` on, all in the
lane's transaction. Without a position, or when Gmail no longer has the history (404), it reads
the last ``GMAIL_RESYNC_DAYS`` days instead and starts again from the mailbox's current position.
Gmail stops pushing after seven days unless ``users.watch`` is called again: ``renew_watches``
does so daily. Address headers are written by whoever sends the mail: each is read up to
``MAX_ADDRESS_HEADER`` characters, and one the standard parser cannot read (comments nested
past its recursion limit) gives no address instead of failing the sync.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from flask import current_app
from sqlalchemy import select

from vani import tenancy
from vani.extensions import db
from vani.mail import mailboxes, store
from vani.mail.store import EmailIn
from vani.models import Mailbox, MailboxKind, MailboxState
from vani.providers.gmail.api import TOO_LARGE, Gmail, GmailError

log = logging.getLogger(__name__)

MAX_MESSAGES = 500  # per sync: the rest of a long history is left for the next one
MAX_ADDRESS_HEADER = 20000  # characters of a From, To or Cc header read
SKIPPED_LABELS = {"DRAFT", "SPAM", "TRASH", "CHAT"}


def sync(mailbox: Mailbox, cfg: Mapping) -> int:
    """Store the mailbox's new messages as events (no commit); how many were new. Raises SyncError."""
    gmail = Gmail(mailbox, cfg)
    ids, more = None, False
    if mailbox.history_id:
        try:
            ids, position, more = _changes(gmail, mailbox.history_id)
        except GmailError as exc:
            if exc.status != 404:
                raise
            log.info("mailbox %s: Gmail no longer has history %s; reading the last %s days again",
                     mailbox.id, mailbox.history_id, cfg["GMAIL_RESYNC_DAYS"])
    if ids is None:
        ids, position = _recent(gmail, int(cfg["GMAIL_RESYNC_DAYS"]))
    items = [item for item in (_fetch(gmail, message_id) for message_id in ids) if item is not None]
    new = store.store(mailbox, items)
    mailbox.history_id = position
    if more:
        mailboxes.mark_due(mailbox.id)
    return new


def _changes(gmail: Gmail, start: str) -> tuple[list[str], str, bool]:
    """The ids of messages added since ``start`` (once each, oldest first), the position to go
    on from, and whether history is left over for another sync."""
    ids: list[str] = []
    page = None
    while True:
        answer = gmail.history(start, page)
        records = [r for r in answer.get("history") or [] if isinstance(r, dict)]
        for record in records:
            for added in record.get("messagesAdded") or []:
                message = added.get("message") if isinstance(added, dict) else None
                if isinstance(message, dict) and isinstance(message.get("id"), str) \
                        and not SKIPPED_LABELS & set(message.get("labelIds") or []):
                    ids.append(message["id"])
        ids = list(dict.fromkeys(ids))
        page = answer.get("nextPageToken")
        if not page:
            return ids, str(answer.get("historyId") or (records[-1].get("id") if records else None) or start), False
        if len(ids) >= MAX_MESSAGES and records and records[-1].get("id"):
            return ids, str(records[-1]["id"]), True


def _recent(gmail: Gmail, days: int) -> tuple[list[str], str]:
    """The last ``days`` days' message ids (oldest first, at most ``MAX_MESSAGES``), and the
    mailbox's position read before them (what arrives meanwhile is in the history after it)."""
    position = str(gmail.profile()["historyId"])
    ids: list[str] = []
    page = None
    while len(ids) < MAX_MESSAGES:
        answer = gmail.messages(f"newer_than:{days}d", page)
        ids += [m["id"] for m in answer.get("messages") or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        page = answer.get("nextPageToken")
        if not page:
            break
    return list(reversed(list(dict.fromkeys(ids))[:MAX_MESSAGES])), position


def _fetch(gmail: Gmail, message_id: str) -> EmailIn | None:
    """One message's headers and snippet; None when it is gone, a draft, spam or trash."""
    try:
        message = gmail.message(message_id)
    except GmailError as exc:
        if exc.status != 404 and exc.reason != TOO_LARGE:
            raise
        log.info("Gmail message %s skipped: %s", message_id, exc.message)
        return None
    labels = [str(label) for label in message.get("labelIds") or []]
    if SKIPPED_LABELS & set(labels):
        return None
    return email_in(message, labels)


def email_in(message: dict, labels: list[str]) -> EmailIn:
    """A ``users.messages.get`` answer (``format=metadata``) as an ``EmailIn``."""
    headers: dict[str, str] = {}
    for header in (message.get("payload") or {}).get("headers") or []:
        if isinstance(header, dict) and isinstance(header.get("name"), str):
            headers.setdefault(header["name"].lower(), str(header.get("value") or ""))
    try:
        name, address = parseaddr(headers.get("from", "")[:MAX_ADDRESS_HEADER])
    except RecursionError:
        name, address = "", ""
    return EmailIn(
        provider_message_id=message["id"], direction="outbound" if "SENT" in labels else "inbound",
        message_id=headers.get("message-id", "").strip() or None, thread_id=message.get("threadId"),
        from_address=address.lower() or None, from_name=name or None,
        to=_addresses(headers.get("to")), cc=_addresses(headers.get("cc")), subject=headers.get("subject"),
        snippet=message.get("snippet"), date=_date(headers.get("date"), message.get("internalDate")), labels=labels)


def _addresses(value: str | None) -> list[str]:
    try:
        found = getaddresses([(value or "")[:MAX_ADDRESS_HEADER]])
    except RecursionError:
        return []
    return [address.lower() for _, address in found if "@" in address]


def _date(header: str | None, internal: str | None) -> datetime | None:
    try:
        date = parsedate_to_datetime(header or "")
        return date if date.tzinfo else date.replace(tzinfo=timezone.utc)
    except (TypeError, ValueError, IndexError):
        pass
    return _from_ms(internal)


def _from_ms(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# -- the push ---------------------------------------------------------------------------------
def watch(mailbox: Mailbox, cfg: Mapping) -> None:
    """Ask Gmail to push the mailbox's INBOX and SENT changes to ``GMAIL_PUBSUB_TOPIC`` for seven
    days; keeps the expiry (no commit). A new mailbox keeps no position: its first sync reads the
    last ``GMAIL_RESYNC_DAYS`` days."""
    answer = Gmail(mailbox, cfg).watch(cfg["GMAIL_PUBSUB_TOPIC"])
    mailbox.watch_expires_at = _from_ms(answer.get("expiration"))


def renew_watches() -> dict[str, int]:
    """Across organisations: renew every connected Gmail mailbox's watch, committing each. A
    refused grant marks the mailbox ``needs_reconnect``; other failures are recorded and logged."""
    cfg = current_app.config
    counts = {"mailboxes": 0, "renewed": 0, "failed": 0}
    rows = db.session.execute(select(Mailbox.id, Mailbox.org_id).where(
        Mailbox.kind == MailboxKind.GMAIL, Mailbox.state != MailboxState.NEEDS_RECONNECT)
        .order_by(Mailbox.id).execution_options(unscoped=True)).all()
    db.session.rollback()
    for mailbox_id, org_id in rows:
        with tenancy.acting_for(org_id):
            mailbox = db.session.get(Mailbox, mailbox_id)
            if mailbox is None:
                continue
            counts["mailboxes"] += 1
            try:
                watch(mailbox, cfg)
                counts["renewed"] += 1
            except GmailError as exc:
                counts["failed"] += 1
                mailbox.last_error = f"Renewing the Gmail watch failed: {exc.message}"[:2000]
                if exc.reason == "invalid_grant" or exc.status == 401:
                    mailbox.state = MailboxState.NEEDS_RECONNECT
                log.warning("mailbox %s of organisation %s: %s", mailbox_id, org_id, mailbox.last_error)
            db.session.commit()
    return counts
