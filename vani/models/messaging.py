"""WhatsApp (and SMS) conversations with prospects, and their messages."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, isoformat, state_type, utcnow
from vani.models.orgs import OrgOwned


class MessageStatus(enum.StrEnum):
    RECEIVED = "received"  # inbound
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"

    @property
    def rank(self) -> int:
        """A status only ever moves up: a late "delivered" never replaces "read"."""
        return _RANK[self]

    @property
    def step_column(self) -> str:
        """The column holding this step's time."""
        return "failed_at" if self is MessageStatus.UNDELIVERED else f"{self.value}_at"


_RANK = {MessageStatus.RECEIVED: 0, MessageStatus.QUEUED: 0, MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2,
         MessageStatus.READ: 3, MessageStatus.FAILED: 4, MessageStatus.UNDELIVERED: 4}


class MessageDirection(enum.StrEnum):
    INBOUND = "inbound"    # from the customer
    OUTBOUND = "outbound"  # from the business


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    INACTIVE = "inactive"


UNREAD = "last_inbound_message_id > coalesce(last_read_message_id, 0)"
INBOUND_ONLY = "direction = 'inbound'"


class Conversation(OrgOwned, db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "provider_ref", name="uq_conversations_org_provider_ref"),
        Index("ix_conversations_updated", "org_id", "updated_at", "id"),
        Index("ix_conversations_phone", "org_id", "phone"),
        # The conversations with something unread: the navigation counts only theirs.
        Index("ix_conversations_unread", "org_id", "updated_at", "id", postgresql_where=text(UNREAD),
              sqlite_where=text(UNREAD)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    # Kapso conversation id; Twilio has none, so "<channel>:<business number>:<customer number>".
    provider_ref: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(16), default="whatsapp")  # whatsapp | sms
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)  # customer, E.164
    business_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)  # our number / phone_number_id
    contact_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[ConversationStatus] = mapped_column(state_type(ConversationStatus),
                                                      default=ConversationStatus.ACTIVE)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # The newest inbound message someone has read in the dashboard (what came after is unread).
    last_read_message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The newest inbound message: unread while it is newer than the last one read.
    last_inbound_message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="[Message.message_at, Message.id]",
        cascade="all, delete-orphan", passive_deletes=True)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "provider": self.provider, "provider_ref": self.provider_ref,
            "channel": self.channel, "prospect_id": self.prospect_id, "phone": self.phone,
            "business_ref": self.business_ref, "contact_name": self.contact_name, "status": self.status,
            "last_message_at": isoformat(self.last_message_at), "assignee_id": self.assignee_id,
            "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at),
        }


class Message(OrgOwned, db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "provider_message_id", name="uq_messages_org_provider_message_id"),
        Index("ix_messages_conversation_time", "conversation_id", "message_at", "id"),
        Index("ix_messages_inbound", "conversation_id", "id", postgresql_where=text(INBOUND_ONLY),
              sqlite_where=text(INBOUND_ONLY)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str] = mapped_column(String(255))  # wamid…, Twilio SM…/MM…
    direction: Mapped[MessageDirection] = mapped_column(state_type(MessageDirection, 8))
    type: Mapped[str] = mapped_column(String(32), default="text")
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_urls: Mapped[list] = mapped_column(JSONType, default=list)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)  # location, button reply, errors …
    status: Mapped[MessageStatus] = mapped_column(state_type(MessageStatus))
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # provider's time
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Replies Vani sent: from the dashboard, the API or an auto-reply rule (None: seen through a webhook).
    origin: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    autoreply_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("autoreply_rules.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    def statuses(self) -> dict:
        steps = ("received", "queued", "sent", "delivered", "read", "failed")
        return {step: isoformat(getattr(self, f"{step}_at")) for step in steps if getattr(self, f"{step}_at")}

    def to_dict(self) -> dict:
        return {
            "id": self.id, "conversation_id": self.conversation_id, "provider": self.provider,
            "provider_message_id": self.provider_message_id, "direction": self.direction, "type": self.type,
            "text": self.text, "media_urls": self.media_urls or [], "data": self.data or {},
            "status": self.status, "statuses": self.statuses(), "error_code": self.error_code,
            "error_detail": self.error_detail, "origin": self.origin, "sent_by_id": self.sent_by_id,
            "autoreply_rule_id": self.autoreply_rule_id, "message_at": isoformat(self.message_at),
            "created_at": isoformat(self.created_at), "updated_at": isoformat(self.updated_at),
        }
