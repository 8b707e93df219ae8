"""Domain events emitted by processing, in the same transaction as the change and the deliveries
that fan them out (the outbox)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani import tracing
from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, isoformat, utcnow
from vani.models.orgs import OrgOwned


class OutboundEvent(OrgOwned, db.Model):
    __tablename__ = "outbound_events"
    __table_args__ = (UniqueConstraint("org_id", "emit_key", name="uq_outbound_events_org_emit_key"),
                      Index("ix_outbound_events_type", "org_id", "type"),
                      Index("ix_outbound_events_created", "org_id", "created_at"))  # an organisation's last minute

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)  # stable id sent to receivers
    type: Mapped[str] = mapped_column(String(64))
    # Makes emission idempotent: re-processing an inbound event emits nothing new.
    emit_key: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The request it follows from (its webhook call's, or the API call's): see vani.tracing.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=tracing.current)

    def to_dict(self) -> dict:
        return {"id": self.msg_id, "type": self.type, "timestamp": isoformat(self.created_at), "data": self.data}
