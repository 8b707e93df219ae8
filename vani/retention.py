"""Retention: raw events, rejected calls and delivery attempts older than ``VANI_RETENTION_DAYS``
are deleted; prospects, meetings, notes and messages are kept. Work still to be done is never
deleted, whatever its age: events waiting, being processed or dead (a dead letter stays until
a person acts on it). Stored idempotent answers and sign-in counts go once they no longer serve,
and the heartbeat rows of processes silent for a day (killed, never to come back)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update

from vani import tenancy
from vani.accounts import signin_throttle
from vani.extensions import db
from vani.models import DeliveryAttempt, EventStatus, RejectedCall, WebhookEvent, idempotency
from vani.models.base import utcnow
from vani.work import heartbeat

BATCH = 1000
FINISHED_EVENTS = (EventStatus.PROCESSED, EventStatus.IGNORED)
SILENT_PROCESSES_KEPT = timedelta(days=1)

# (label, model, age column, extra condition)
TARGETS = (
    ("webhook_events", WebhookEvent, "received_at", WebhookEvent.status.in_(FINISHED_EVENTS)),
    ("rejected_calls", RejectedCall, "created_at", None),
    ("delivery_attempts", DeliveryAttempt, "created_at", None),
)


def _detach(table_name: str, ids: list[int]) -> None:
    """Null nullable references to rows about to go (PostgreSQL does it by itself; SQLite does not)."""
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == table_name and fk.parent.nullable:
                db.session.execute(update(table).where(fk.parent.in_(ids)).values({fk.parent.name: None}))


def cleanup(days: int | None = None, dry_run: bool = False, now: datetime | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) rows older than ``days``, in every organisation.
    Returns counts per table; ``progress(table, deleted, total)`` is told after each batch
    (``total`` counted first)."""
    with tenancy.everywhere():
        return _cleanup(days, dry_run, now, progress)


def _cleanup(days: int | None, dry_run: bool, now: datetime | None,
             progress: Callable[[str, int, int], None] | None) -> dict[str, int]:
    days = current_app.config["VANI_RETENTION_DAYS"] if days is None else days
    if days < 1:
        raise ValueError("the retention must be at least 1 day")
    cutoff = (now or utcnow()) - timedelta(days=days)
    counts: dict[str, int] = {}
    for label, model, column, extra in TARGETS:
        cond = getattr(model, column) < cutoff
        if extra is not None:
            cond = cond & extra
        if dry_run or progress:
            counts[label] = db.session.execute(select(func.count()).select_from(model).where(cond)).scalar_one()
        if dry_run:
            continue
        if progress:
            progress(label, 0, counts[label])
        total = 0
        while True:
            ids = list(db.session.execute(select(model.id).where(cond).order_by(model.id).limit(BATCH)).scalars())
            if not ids:
                break
            _detach(model.__tablename__, ids)
            db.session.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
            db.session.commit()
            total += len(ids)
            if progress:
                progress(label, total, max(total, counts[label]))
        counts[label] = total
    db.session.rollback()
    if not dry_run:
        counts["idempotent_requests"] = idempotency.purge(now)
        counts["login_throttles"] = signin_throttle.purge(now)
        counts["silent_processes"] = heartbeat.remove_silent(SILENT_PROCESSES_KEPT, now)
    return counts
