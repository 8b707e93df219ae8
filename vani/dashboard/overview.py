"""Numbers for the overview page: per-provider activity, rejections, hourly chart buckets (read from
the hourly rollups the work engine keeps, never by counting every event)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from vani import plugins, tenancy
from vani.extensions import db
from vani.models import EventStatus, RejectedCall, RollupMetric, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.work import rollups


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


WAITING = (EventStatus.RECEIVED, EventStatus.PROCESSING)
FAILED = (EventStatus.FAILED, EventStatus.DEAD)


def window(hours: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The first and last hour (UTC) of the ``hours`` hours ending now."""
    last = rollups.hour_of(now or utcnow())
    return last - timedelta(hours=hours - 1), last


def snapshot(hours: int = 48, now: datetime | None = None) -> rollups.Snapshot:
    """The rollups of the last ``hours`` hours and the gauges, read once for a whole page."""
    return rollups.Snapshot(window(hours, now)[0])


def provider_stats(now: datetime | None = None, snap: rollups.Snapshot | None = None) -> list[ProviderStats]:
    """Per provider over the last 24 hours: outcomes from the hourly rollups (a retried event's
    failed attempts count as failed), events still waiting, last event time, rejected calls."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    first, _ = window(24, now)
    snap = snap or rollups.Snapshot(first)
    stats = {p.name: ProviderStats(p.name, p.title or p.name) for p in plugins.installed().all()}
    counts: dict[tuple[str, str], int] = {}
    for _, dim, value in snap.read(RollupMetric.EVENTS, first):
        provider, _, status = dim.rpartition(":")
        counts[(provider, status)] = counts.get((provider, status), 0) + value
    # Waiting rows only: a short range of the (status, received_at) index each.
    counts.update(((provider, status), count) for provider, status, count in db.session.execute(
        select(WebhookEvent.provider, WebhookEvent.status, func.count())
        .where(WebhookEvent.status.in_(WAITING), WebhookEvent.received_at >= since)
        .group_by(WebhookEvent.provider, WebhookEvent.status)))
    for (provider, status), count in counts.items():
        item = stats.setdefault(provider, ProviderStats(provider, provider))
        item.by_status[status] = item.by_status.get(status, 0) + count
        item.total += count
    # One statement, one index lookup per provider on (org, provider, received_at, id).
    e, org = WebhookEvent, tenancy.require()
    last = db.session.execute(select(*[
        select(e.received_at).where(e.org_id == org, e.provider == name).order_by(e.received_at.desc())
        .limit(1).scalar_subquery() for name in stats])).one() if stats else ()
    for item, at in zip(stats.values(), last):
        item.last_received_at = as_utc(at)
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


def hourly_buckets(hours: int = 48, now: datetime | None = None,
                   snap: rollups.Snapshot | None = None) -> list[HourBucket]:
    """Events settled per hour for the last ``hours`` hours, from the rollups (oldest first,
    empty hours included); ``failed``: attempts that failed, retried or not."""
    first, _ = window(hours, now)
    snap = snap or rollups.Snapshot(first)
    buckets = {first + timedelta(hours=i): HourBucket(first + timedelta(hours=i)) for i in range(hours)}
    for hour, dim, value in snap.read(RollupMetric.EVENTS, first):
        bucket = buckets.get(hour)
        if bucket is not None:
            bucket.total += value
            if dim.rpartition(":")[2] in FAILED:
                bucket.failed += value
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
