"""Idempotency keys: the first answer to a creating API request, replayed for a repeat."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.crypto import EncryptedBytes
from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, utcnow
from vani.models.orgs import OrgOwned


class IdempotentRequest(OrgOwned, db.Model):
    """One ``Idempotency-Key`` a token sent: what the request was (``fingerprint``) and, once
    answered, the answer (encrypted: a subscription's answer holds its signing secret).
    ``status`` is null while the first request is still running."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotent_requests_token_key"),
                      Index("ix_idempotent_requests_created", "created_at"),
                      Index("ix_idempotent_requests_org", "org_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    body: Mapped[bytes | None] = mapped_column(EncryptedBytes, nullable=True)  # may hold a new whsec_ secret
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
