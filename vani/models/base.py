"""Column types and helpers shared by the models."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, DateTime, Enum, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

# JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# 64-bit ids on PostgreSQL; SQLite needs INTEGER for its rowid autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UTCDateTime = DateTime(timezone=True)


def state_type(states: type[enum.StrEnum], length: int = 16) -> Enum:
    """A state column: VARCHAR in the database, the model's ``StrEnum`` in Python.

    Unknown values are refused on the way in, so a typo in a status cannot reach a row."""
    return Enum(states, native_enum=False, length=length, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


def in_states(*states: enum.StrEnum) -> dict:
    """The ``postgresql_where`` and ``sqlite_where`` of a partial index over the rows whose
    ``status`` is one of ``states`` (a lane's waiting rows): the same SQL for both databases."""
    values = ", ".join(f"'{state.value}'" for state in states)
    clause = f"status = {values}" if len(states) == 1 else f"status IN ({values})"
    return {"postgresql_where": text(clause), "sqlite_where": text(clause)}


class Leased:
    """The columns the work engine (``vani.work``) claims, leases, fences and retries a row with.

    Each model keeps its own state column and error text; its lane (``vani.work.Lane``) names
    them. ``lease_token`` names the claim that owns a running row: an outcome is written only with
    the token of the claim still owning it, so a worker that lost its lease changes nothing."""

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The heartbeat row of the process holding the lease: once that heartbeat goes silent (the
    # process was killed), the sweep takes the row over without waiting for the lease to run out.
    lease_owner: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; treat them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def isoformat(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat().replace("+00:00", "Z") if value else None
