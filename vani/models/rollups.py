"""Hourly rollups: counters the work engine adds to as work settles, so the overview reads a few
hundred small rows instead of counting millions of events; and each prospect's stage changes."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import BigInteger, ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, isoformat, state_type, utcnow
from vani.models.domain import ProspectStage
from vani.models.orgs import OrgOwned


class RollupMetric(enum.StrEnum):
    """What a rollup row counts; ``dim`` narrows it (see each member)."""
    EVENTS = "events"                          # settled events; dim "<provider>:<status>"
    EVENT_LAG = "event_lag_ms"                 # receipt → first outcome; dim: a histogram bucket (ms)
    DELIVERIES = "deliveries"                  # settled delivery attempts; dim: the status it went to
    DELIVERY_LATENCY = "delivery_latency_ms"   # created → delivered; dim: a histogram bucket (ms)
    PROSPECT_STAGE = "prospect_stage"          # a gauge: prospects at the stage named by dim, at ALL_TIME


# The ``hour`` of a gauge: a count of now (prospects per stage), not of one hour.
ALL_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)


class HourlyRollup(OrgOwned, db.Model):
    """``value`` of ``metric`` (narrowed by ``dim``) in the hour starting at ``hour`` (UTC); a
    gauge's one row per dim is at ``ALL_TIME``."""

    __tablename__ = "hourly_rollups"
    __table_args__ = (PrimaryKeyConstraint("org_id", "metric", "hour", "dim", name="pk_hourly_rollups"),)

    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    metric: Mapped[RollupMetric] = mapped_column(state_type(RollupMetric, 32))
    dim: Mapped[str] = mapped_column(String(100), default="")
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ProspectStageChange(OrgOwned, db.Model):
    """A prospect's stage moved (``from_stage`` None: it was created at ``to_stage``)."""

    __tablename__ = "prospect_stage_changes"
    __table_args__ = (Index("ix_prospect_stage_changes_prospect", "org_id", "prospect_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    from_stage: Mapped[ProspectStage | None] = mapped_column(state_type(ProspectStage), nullable=True)
    to_stage: Mapped[ProspectStage] = mapped_column(state_type(ProspectStage))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_events.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict:
        return {"id": self.id, "from_stage": self.from_stage, "to_stage": self.to_stage,
                "event_id": self.event_id, "created_at": isoformat(self.created_at)}
