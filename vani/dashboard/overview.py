"""Numbers for the overview page: per-provider activity, rejections, hourly chart buckets."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from vani import plugins, tenancy
from vani.extensions import db
from vani.models import EventStatus, RejectedCall, WebhookEvent
from vani.models.base import as_utc, utcnow


@dataclass
class ProviderStats:
    name: str
    title: str
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    last_received_at: datetime | None = None
    rejected: int = 0

    def count(self, status: str) -> int:
        return self.by_status.get(status, 0)


def provider_stats(now: datetime | None = None) -> list[ProviderStats]:
    """Events of the last 24 h by provider and status, last event time, rejected calls."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    stats = {p.name: ProviderStats(p.name, p.title or p.name) for p in plugins.installed().all()}
    rows = db.session.execute(
        select(WebhookEvent.provider, WebhookEvent.status, func.count())
        .where(WebhookEvent.received_at >= since)
        .group_by(WebhookEvent.provider, WebhookEvent.status))
    for provider, status, count in rows:
        item = stats.setdefault(provider, ProviderStats(provider, provider))
        item.by_status[status] = count
        item.total += count
    for item in stats.values():
        # One index lookup per provider (provider, received_at, id).
        item.last_received_at = as_utc(db.session.execute(
            select(WebhookEvent.received_at).where(WebhookEvent.provider == item.name)
            .order_by(WebhookEvent.received_at.desc()).limit(1)).scalar())
    rows = db.session.execute(
        select(RejectedCall.provider, func.count()).where(RejectedCall.created_at >= since)
        .group_by(RejectedCall.provider))
    for provider, count in rows:
        stats.setdefault(provider, ProviderStats(provider, provider)).rejected = count
    return list(stats.values())


@dataclass
class HourBucket:
    start: datetime
    total: int = 0
    failed: int = 0


def _hour_expr():
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", WebhookEvent.received_at))
    return func.strftime("%Y-%m-%d %H:00:00", WebhookEvent.received_at)


def _to_hour(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC, minute=0, second=0, microsecond=0)


def hourly_buckets(hours: int = 48, now: datetime | None = None) -> list[HourBucket]:
    """Events per hour for the last ``hours`` hours (oldest first, empty hours included)."""
    now = (now or utcnow()).astimezone(UTC)
    last = now.replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=hours - 1)
    buckets = {first + timedelta(hours=i): HourBucket(first + timedelta(hours=i)) for i in range(hours)}
    hour = _hour_expr().label("hour")
    # Two range scans on (received_at, id) and (status, received_at, id): index-only on PostgreSQL.
    totals = db.session.execute(
        select(hour, func.count()).where(WebhookEvent.received_at >= first).group_by(hour))
    failed = db.session.execute(
        select(hour, func.count()).where(WebhookEvent.status == EventStatus.FAILED,
                                         WebhookEvent.received_at >= first).group_by(hour))
    for rows, attr in ((totals, "total"), (failed, "failed")):
        for value, count in rows:
            bucket = buckets.get(_to_hour(value))
            if bucket is not None:
                setattr(bucket, attr, getattr(bucket, attr) + count)
    return list(buckets.values())


@dataclass
class DeadLetters:
    lane: str
    label: str
    count: int
    link: str  # the dashboard list holding them


DEAD_LETTER_PAGES = {"events": ("Events", "dash.events", {"status": "dead"}),
                     "deliveries": ("Deliveries", "dash.deliveries", {"status": "failed"}),
                     "notification_sends": ("Notification sends", "dash.notifications", {"status": "failed"}),
                     "message_sends": ("WhatsApp sends", "dash.conversations", {}),
                     "mailbox_syncs": ("Mailbox syncs", "dash.mailboxes_page", {})}


def dead_letters() -> list[DeadLetters]:
    """Work that failed every allowed attempt, per lane, for the overview (kept until someone acts)."""
    from flask import url_for

    from vani.work.sweep import dead_letters as counts

    out = []
    for lane, count in counts(tenancy.require()).items():
        label, endpoint, args = DEAD_LETTER_PAGES.get(lane, (lane.replace("_", " ").capitalize(), None, {}))
        out.append(DeadLetters(lane, label, count, url_for(endpoint, **args) if endpoint else ""))
    return out
