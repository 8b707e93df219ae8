"""Mailboxes Vani reads (Gmail through its API, any other through IMAP) and the mail they hold."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.crypto import Encrypted
from vani.extensions import db
from vani.models.base import BigId, JSONType, Leased, UTCDateTime, in_states, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class MailboxKind(enum.StrEnum):
    GMAIL = "gmail"
    IMAP = "imap"


class MailboxState(enum.StrEnum):
    CONNECTED = "connected"              # the last sync or connection worked
    ERROR = "error"                      # the last sync failed; retried with backoff
    NEEDS_RECONNECT = "needs_reconnect"  # the grant or password was refused: a person must act


class SyncStatus(enum.StrEnum):
    """The mailbox as an item of the ``mailbox_syncs`` lane."""
    IDLE = "idle"        # nothing asked for
    PENDING = "pending"  # a sync is due (a push, IDLE, the poll, *Sync now*)
    SYNCING = "syncing"  # claimed by a worker
    FAILED = "failed"    # the sync failed; tried again at next_attempt_at
    DEAD = "dead"        # every allowed try failed: *Sync now* starts again


class Mailbox(OrgOwned, Leased, db.Model):
    __tablename__ = "mailboxes"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "address", name="uq_mailboxes_org_kind_address"),
        Index("ix_mailboxes_due", "next_attempt_at", "id",
              **in_states(SyncStatus.PENDING, SyncStatus.FAILED)),
        Index("ix_mailboxes_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[MailboxKind] = mapped_column(state_type(MailboxKind, 8))
    address: Mapped[str] = mapped_column(String(320))  # the mailbox's own address (lower case)
    state: Mapped[MailboxState] = mapped_column(state_type(MailboxState), default=MailboxState.CONNECTED)
    status: Mapped[SyncStatus] = mapped_column(state_type(SyncStatus), default=SyncStatus.IDLE)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sync_again: Mapped[bool] = mapped_column(Boolean, default=False)  # asked for while a sync was running
    # IMAP
    imap_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    imap_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imap_user: Mapped[str | None] = mapped_column(String(320), nullable=True)
    imap_password: Mapped[str | None] = mapped_column(Encrypted, nullable=True)
    imap_ssl: Mapped[bool] = mapped_column(Boolean, default=True)
    folders: Mapped[list] = mapped_column(JSONType, default=list)  # IMAP folders to read
    # Gmail
    access_token: Mapped[str | None] = mapped_column(Encrypted, nullable=True)
    refresh_token: Mapped[str | None] = mapped_column(Encrypted, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    history_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    watch_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "address": self.address, "state": self.state,
                "sync_status": self.status, "last_error": self.last_error, "last_sync_at": isoformat(self.last_sync_at),
                "watch_expires_at": isoformat(self.watch_expires_at), "folders": self.folders or [],
                "imap_host": self.imap_host, "created_at": isoformat(self.created_at)}


class MailboxFolder(OrgOwned, db.Model):
    """How far an IMAP folder has been read: the last UID seen, valid while ``uidvalidity`` holds."""

    __tablename__ = "mailbox_folders"
    __table_args__ = (UniqueConstraint("mailbox_id", "name", name="uq_mailbox_folders_mailbox_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EmailDirection(enum.StrEnum):
    INBOUND = "inbound"    # to the mailbox
    OUTBOUND = "outbound"  # sent by the mailbox's owner


class Email(OrgOwned, db.Model):
    """One message of a mailbox, as its ``email.received`` / ``email.sent`` event described it."""

    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "provider_message_id", name="uq_emails_mailbox_message"),
        Index("ix_emails_prospect_time", "org_id", "prospect_id", "sent_at", "id"),
        Index("ix_emails_message_id", "mailbox_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # A removed mailbox leaves its mail on the prospects' timelines.
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"), nullable=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_events.id", ondelete="SET NULL"), nullable=True)
    prospect_id: Mapped[int | None] = mapped_column(ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True)
    provider_message_id: Mapped[str] = mapped_column(String(255))  # Gmail id, or the IMAP Message-ID / UID
    message_id: Mapped[str | None] = mapped_column(String(512), nullable=True)  # the Message-ID header
    thread_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    direction: Mapped[EmailDirection] = mapped_column(state_type(EmailDirection, 8))
    from_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    from_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    to: Mapped[list] = mapped_column(JSONType, default=list)
    cc: Mapped[list] = mapped_column(JSONType, default=list)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    snippet: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[list] = mapped_column(JSONType, default=list)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "mailbox_id": self.mailbox_id, "prospect_id": self.prospect_id,
                "provider_message_id": self.provider_message_id, "message_id": self.message_id,
                "thread_id": self.thread_id, "direction": self.direction, "from": self.from_address,
                "from_name": self.from_name, "to": self.to or [], "cc": self.cc or [], "subject": self.subject,
                "snippet": self.snippet, "labels": self.labels or [], "sent_at": isoformat(self.sent_at),
                "created_at": isoformat(self.created_at)}
