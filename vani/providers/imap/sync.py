"""IMAP: new messages per folder by UID, with ``UIDVALIDITY`` kept so a renumbered folder is
read again without duplicates.

Each configured folder is selected read-only (nothing is marked seen); one the server does not
have is skipped, and kept as a position with no UIDVALIDITY so the mailbox's page and ``flask vani
mail sync`` can show it. A folder's position (``MailboxFolder``: UIDVALIDITY and the last UID stored) moves in the sync's transaction, batch by
batch, with the events the batch stored. A folder whose UIDVALIDITY changed is read from the
start again; the Message-ID dedupe in ``store`` keeps what was stored before from being stored
twice. Only headers and the opening bytes of the first text part are fetched, never a body.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from imapclient import IMAPClient
from sqlalchemy import select

from vani.extensions import db
from vani.mail import mailboxes, store
from vani.mail.mailboxes import SyncError
from vani.mail.store import EmailIn
from vani.models import Mailbox, MailboxFolder
from vani.providers.imap import client as imap_client

log = logging.getLogger(__name__)

BATCH = 100          # messages per FETCH
PER_FOLDER = 1000    # messages per folder in one sync; the rest come with the next
SNIPPET_BYTES = 600  # read of the first text part
SENT_NAMES = {"sent", "sent items", "sent mail", "sent messages"}
HEADERS = "BODY.PEEK[HEADER.FIELDS (REFERENCES)]"
HEADERS_KEY = b"BODY[HEADER.FIELDS (REFERENCES)]"


def sync(mailbox: Mailbox, cfg: Mapping) -> int:
    """Store the mailbox's new messages as events (no commit); how many were new. Raises SyncError."""
    with imap_client.session(mailbox, cfg) as client:
        listed = client.list_folders()
        wanted = mailbox.folders or ["INBOX"]
        found = [(name, resolve(name, listed)) for name in wanted]
        if not any(folder for _, folder in found):
            names = ", ".join(sorted(str(n) for _, _, n in listed)[:30])
            raise SyncError(f"none of the folders {', '.join(wanted)} is on the server (it has: {names})")
        new, done = 0, set()
        for name, folder in found:
            if folder is None:
                log.warning("mailbox %s: the server has no folder %r; skipped", mailbox.id, name)
                missing(mailbox, name)
                continue
            if folder[0] not in done:
                done.add(folder[0])
                new += sync_folder(client, mailbox, *folder)
        return new


def resolve(name: str, listed) -> tuple[str, bool] | None:
    """The server's folder for a configured name, and whether it holds sent mail: the name
    itself (INBOX in any case), or for a Sent folder the one flagged ``\\Sent`` (RFC 6154)."""
    folders = {str(n): {f.lower() for f in flags} for flags, _, n in listed}
    folders = {n: flags for n, flags in folders.items() if not flags & {b"\\noselect", b"\\nonexistent"}}
    sent_flagged = [n for n, flags in folders.items() if b"\\sent" in flags]
    wants_sent = name.casefold() in SENT_NAMES
    if name not in folders and name.upper() == "INBOX":
        name = next((n for n in folders if n.upper() == "INBOX"), name)
    if name not in folders:
        if not (wants_sent and sent_flagged):
            return None
        name = sent_flagged[0]
    return name, wants_sent or name in sent_flagged


def position(mailbox: Mailbox, name: str) -> MailboxFolder:
    row = db.session.execute(select(MailboxFolder).where(
        MailboxFolder.mailbox_id == mailbox.id, MailboxFolder.name == name)).scalar_one_or_none()
    if row is None:
        row = MailboxFolder(org_id=mailbox.org_id, mailbox_id=mailbox.id, name=name, uidvalidity=None, last_uid=0)
        db.session.add(row)
    return row


def missing(mailbox: Mailbox, name: str) -> None:
    """A configured folder the server does not have: shown as a position with no UIDVALIDITY
    (read from its start if it appears)."""
    row = position(mailbox, name)
    row.uidvalidity, row.last_uid = None, 0


def sync_folder(client: IMAPClient, mailbox: Mailbox, name: str, outbound: bool) -> int:
    info = client.select_folder(name, readonly=True)
    uidvalidity = int(info.get(b"UIDVALIDITY") or 0)
    row = position(mailbox, name)
    if row.uidvalidity != uidvalidity:
        if row.uidvalidity is not None:
            log.info("mailbox %s: %s was renumbered (UIDVALIDITY %s -> %s); reading it again",
                     mailbox.id, name, row.uidvalidity, uidvalidity)
        row.uidvalidity, row.last_uid = uidvalidity, 0
    uidnext = int(info.get(b"UIDNEXT") or 0)
    if not info.get(b"EXISTS") or (uidnext and uidnext <= row.last_uid + 1):
        return 0
    uids = sorted(u for u in client.search(["UID", f"{row.last_uid + 1}:*"]) if u > row.last_uid)
    if len(uids) > PER_FOLDER:
        if row.last_uid == 0:  # a first read starts with the newest mail, as Gmail reads its last days
            uids = uids[-PER_FOLDER:]
        else:  # the rest comes with another sync, asked for now
            uids = uids[:PER_FOLDER]
            mailboxes.mark_due(mailbox.id)
    new = 0
    for start in range(0, len(uids), BATCH):
        batch = uids[start:start + BATCH]
        new += store.store(mailbox, fetch(client, batch, name, uidvalidity, outbound))
        row.last_uid = batch[-1]
        db.session.flush()
    return new


def fetch(client: IMAPClient, uids: list[int], folder: str, uidvalidity: int, outbound: bool) -> list[EmailIn]:
    """Headers, arrival time and a snippet of each message (gone ones are left out)."""
    data = client.fetch(uids, ["ENVELOPE", "INTERNALDATE", "BODYSTRUCTURE", HEADERS])
    parts = {uid: imap_client.first_text_part(data[uid].get(b"BODYSTRUCTURE") or ()) for uid in uids if uid in data}
    openings: dict[int, bytes] = {}
    for section in sorted({p[0] for p in parts.values() if p}):
        wanted = [uid for uid, p in parts.items() if p and p[0] == section]
        key = f"BODY[{section}]<0>".encode()
        for uid, answer in client.fetch(wanted, [f"BODY.PEEK[{section}]<0.{SNIPPET_BYTES}>"]).items():
            openings[uid] = answer.get(key) or b""
    items = []
    for uid in uids:
        if uid not in data:
            continue
        try:
            part = parts.get(uid)
            text = imap_client.snippet(openings.get(uid), part[1], part[2], part[3]) if part else None
            items.append(email_in(data[uid], folder, uidvalidity, uid, outbound, text))
        except Exception:  # one unreadable message must not stop the folder: stored with what is known
            log.warning("%s UID %s: headers could not be read; stored without them", folder, uid, exc_info=True)
            items.append(EmailIn(provider_message_id=f"{folder}/{uidvalidity}/{uid}"[:255],
                                 direction="outbound" if outbound else "inbound", folder=folder,
                                 date=imap_client.as_utc(data[uid].get(b"INTERNALDATE"))))
    return items


def email_in(answer: dict, folder: str, uidvalidity: int, uid: int, outbound: bool, snippet: str | None) -> EmailIn:
    envelope = answer.get(b"ENVELOPE")
    sender = imap_client.addresses(getattr(envelope, "from_", None))
    references = imap_client.message_ids(answer.get(HEADERS_KEY))
    in_reply_to = imap_client.message_ids(getattr(envelope, "in_reply_to", None))
    message_id = imap_client.decoded(getattr(envelope, "message_id", None), 512)
    return EmailIn(
        provider_message_id=f"{folder}/{uidvalidity}/{uid}"[:255],
        direction="outbound" if outbound else "inbound",
        message_id=message_id,
        thread_id=(references or in_reply_to or [None])[0],
        from_address=sender[0][0] if sender else None,
        from_name=sender[0][1] if sender else None,
        to=[a for a, _ in imap_client.addresses(getattr(envelope, "to", None))][:100],
        cc=[a for a, _ in imap_client.addresses(getattr(envelope, "cc", None))][:100],
        subject=imap_client.decoded(getattr(envelope, "subject", None), 2000),
        snippet=snippet,
        date=imap_client.as_utc(getattr(envelope, "date", None)) or imap_client.as_utc(answer.get(b"INTERNALDATE")),
        folder=folder,
    )
