"""The heartbeats of the long-running processes: one row per live worker, scheduler and mail
watcher (install-wide, not an organisation's)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vani.extensions import db
from vani.models.base import BigId, JSONType, UTCDateTime, state_type, utcnow


class ProcessRole(enum.StrEnum):
    WORKER = "worker"
    SCHEDULER = "scheduler"
    MAIL_WATCHER = "mail_watcher"


class ProcessHeartbeat(db.Model):
    """A process's row, written at start and every ``VANI_HEARTBEAT_SECONDS``; deleted when it
    stops cleanly. A killed process leaves its row, silent once ``last_beat`` is old.
    ``leading``: for processes that elect a leader, whether this one leads (None: not elected)."""

    __tablename__ = "process_heartbeats"
    __table_args__ = (Index("ix_process_heartbeats_last_beat", "last_beat"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    role: Mapped[ProcessRole] = mapped_column(state_type(ProcessRole))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    lanes: Mapped[list] = mapped_column(JSONType, default=list)  # the queues or lanes it serves
    version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_beat: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leading: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
