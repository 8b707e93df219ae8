"""Leads: form submissions (Cal.com routing forms, Calendly routing forms), once each."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, isoformat, utcnow
from vani.models.orgs import OrgOwned


class Lead(OrgOwned, db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "submission_ref", name="uq_leads_org_provider_submission"),
        Index("ix_leads_prospect", "org_id", "prospect_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    submission_ref: Mapped[str] = mapped_column(String(512))  # the provider's id of the submission
    form_ref: Mapped[str | None] = mapped_column(String(512), nullable=True)
    form_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    answers: Mapped[list] = mapped_column(JSONType, default=list)  # [{"question", "answer"}]
    utm: Mapped[dict] = mapped_column(JSONType, default=dict)
    prospect_id: Mapped[int | None] = mapped_column(ForeignKey("prospects.id", ondelete="SET NULL"), nullable=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_events.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "provider": self.provider, "submission_ref": self.submission_ref,
                "form_ref": self.form_ref, "form_name": self.form_name, "answers": self.answers or [],
                "utm": self.utm or {}, "prospect_id": self.prospect_id, "created_at": isoformat(self.created_at)}
