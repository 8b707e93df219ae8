"""Numbers for the overview page: per-provider activity, rejections, hourly chart buckets (read from
the hourly rollups the work engine keeps, never by counting every event)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, cast, func, literal, null, select, type_coerce, union_all

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
    rejected, last = {}, {}
    for kind, provider, status, count, at in db.session.execute(_live_counts(list(stats), since)):
        if kind == "waiting":
            counts[(provider, status)] = count
        elif kind == "rejected":
            rejected[provider] = count
        else:
            last[provider] = as_utc(at)
    for (provider, status), count in counts.items():
        item = stats.setdefault(provider, ProviderStats(provider, provider))
        item.by_status[status] = item.by_status.get(status, 0) + count
        item.total += count
    for provider, count in rejected.items():
        stats.setdefault(provider, ProviderStats(provider, provider)).rejected = count
    for provider, at in last.items():
        stats[provider].last_received_at = at
    return list(stats.values())


def _live_counts(providers: list[str], since: datetime):
    """What the rollups do not hold, in one statement of ``(kind, provider, status, count, at)``
    rows: events still waiting (a short range of the (status, received_at) index), rejected calls
    since ``since``, and each provider's last event (one index lookup each)."""
    e, r, org = WebhookEvent.__table__, RejectedCall.__table__, tenancy.require()
    status, at, none = type_coerce(e.c.status, String), e.c.received_at, null()
    parts = [
        select(literal("waiting"), e.c.provider, status, func.count(), cast(none, at.type))
        .where(e.c.org_id == org, e.c.status.in_(WAITING), at >= since).group_by(e.c.provider, e.c.status),
        select(literal("rejected"), r.c.provider, cast(none, String), func.count(), cast(none, at.type))
        .where(r.c.org_id == org, r.c.created_at >= since).group_by(r.c.provider),
    ]
    for name in providers:
        last = select(at).where(e.c.org_id == org, e.c.provider == name).order_by(at.desc()).limit(1)
        parts.append(select(literal("last"), literal(name), cast(none, String), cast(none, Integer),
                            last.scalar_subquery()))
    return union_all(*parts)


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
