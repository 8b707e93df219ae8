"""Scheduled maintenance through RQ's own cron scheduler, and the retention cleanup.

Every minute the sweepers hand over stuck work (events never queued, deliveries due); once a day
raw events, rejected calls and delivery attempts older than ``VANI_RETENTION_DAYS`` are deleted.
Prospects, meetings, notes and messages are kept. Jobs run on the maintenance queue, in a worker,
inside the app context.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from importlib import import_module
from typing import Callable

from flask import current_app
from sqlalchemy import delete, func, select, update

from vani.extensions import db
from vani.models.base import utcnow

log = logging.getLogger(__name__)

# "module:function"; modules not installed (yet) are skipped.
MINUTE_SWEEPS = ("vani.jobs.inbound:sweep", "vani.jobs.deliveries:sweep", "vani.jobs.notifications:sweep")
CLEANUP_CRON = "17 3 * * *"  # daily at 03:17 (the scheduler's local time)
BATCH = 1000

# (label, model name in vani.models, age column); finished events only, see ``_condition``.
CLEANUP_TARGETS = (
    ("webhook_events", "WebhookEvent", "received_at"),
    ("rejected_calls", "RejectedCall", "created_at"),
    ("delivery_attempts", "DeliveryAttempt", "created_at"),
)


def resolve(path: str) -> Callable | None:
    """The function at ``module:function``, or None when that module does not exist."""
    module_name, _, name = path.partition(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, name, None)


def _condition(model, column: str, cutoff: datetime):
    cond = getattr(model, column) < cutoff
    if model.__name__ == "WebhookEvent":  # never drop work that is still to be done
        from vani.models import EventStatus

        cond = cond & model.status.in_([EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED])
    return cond


def _detach(table_name: str, ids: list[int]) -> None:
    """Null nullable references to rows about to go (PostgreSQL does it by itself; SQLite does not)."""
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == table_name and fk.parent.nullable:
                db.session.execute(update(table).where(fk.parent.in_(ids)).values({fk.parent.name: None}))


def cleanup(days: int | None = None, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) rows older than ``days``. Returns counts per table."""
    import vani.models as models

    days = current_app.config["VANI_RETENTION_DAYS"] if days is None else days
    if days < 1:
        raise ValueError("the retention must be at least 1 day")
    cutoff = (now or utcnow()) - timedelta(days=days)
    counts: dict[str, int] = {}
    for label, model_name, column in CLEANUP_TARGETS:
        model = getattr(models, model_name, None)
        if model is None:
            continue
        cond = _condition(model, column, cutoff)
        if dry_run:
            counts[label] = db.session.execute(select(func.count()).select_from(model).where(cond)).scalar_one()
            continue
        total = 0
        while True:
            ids = list(db.session.execute(select(model.id).where(cond).order_by(model.id).limit(BATCH)).scalars())
            if not ids:
                break
            _detach(model.__tablename__, ids)
            db.session.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
            db.session.commit()
            total += len(ids)
        counts[label] = total
    db.session.rollback()
    return counts


def daily_cleanup() -> dict[str, int]:
    """The scheduled job: cleanup with ``VANI_RETENTION_DAYS``."""
    counts = cleanup()
    log.info("retention cleanup (%s days): %s", current_app.config["VANI_RETENTION_DAYS"], counts)
    return counts


def calendly_sync(since: str | None = None) -> dict:
    """Job for POST /api/v1/calendly/sync."""
    from vani.services.calendly_sync import sync
    from vani.services.mapping import parse_time

    return sync(parse_time(since) if since else None).to_dict()


def build_scheduler(connection, name: str = ""):
    """An RQ ``CronScheduler`` with Vani's jobs registered. Run exactly one per deployment."""
    from rq.cron import CronScheduler

    from vani.services.queue import QUEUE_MAINTENANCE

    scheduler = CronScheduler(connection=connection, name=name)
    for path in MINUTE_SWEEPS:
        func = resolve(path)
        if func is None:
            log.info("scheduler: %s is not installed; skipping it", path)
            continue
        # ttl: a sweep nobody picked up within two minutes is dropped; the next one does its work.
        scheduler.register(func, QUEUE_MAINTENANCE, interval=60, job_timeout=300, ttl=120, result_ttl=600,
                           name=path)
    scheduler.register(daily_cleanup, QUEUE_MAINTENANCE, cron=CLEANUP_CRON, job_timeout=3600,
                       result_ttl=86400, name="vani.jobs.maintenance:daily_cleanup")
    return scheduler
