"""Hourly rollups: what settled work adds to the counters the overview reads.

A lane's ``on_settle`` hook counts the rows a claim settles into a ``Tally`` and ``add``s it in
the same transaction as their outcomes, one multi-row ``INSERT … ON CONFLICT DO UPDATE`` in key
order (two workers adding to the same hour never deadlock). A rolled-back claim counts nothing.
Durations are kept as histograms (one row per bucket), whose percentiles ``quantile`` estimates.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import BigInteger, String, cast, extract, select, type_coerce, union_all

from vani import tenancy
from vani.extensions import db
from vani.models import ALL_TIME, HourlyRollup, RollupMetric
from vani.models.base import as_utc
from vani.models.dbutil import dialect_insert

# Upper bounds of the duration histograms' buckets, in milliseconds; "inf" takes the rest.
BUCKETS_MS = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000)
INF = "inf"
GAUGES = (RollupMetric.PROSPECT_STAGE,)  # counts of now, one row per dim at ALL_TIME


def hour_of(at: datetime) -> datetime:
    return as_utc(at).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def bucket(ms: float) -> str:
    """The histogram bucket (its upper bound) a duration of ``ms`` falls in."""
    for bound in BUCKETS_MS:
        if ms <= bound:
            return str(bound)
    return INF


class Tally:
    """Counts to add, keyed by (organisation, hour, metric, dim)."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()

    def count(self, org_id: int, at: datetime, metric: RollupMetric, dim: str = "", n: int = 1) -> None:
        self.counts[(org_id, hour_of(at), metric, dim[:100])] += n

    def observe(self, org_id: int, at: datetime, metric: RollupMetric, seconds: float) -> None:
        self.count(org_id, at, metric, bucket(max(seconds, 0.0) * 1000))

    def __bool__(self) -> bool:
        return bool(self.counts)


def add(tally: Tally) -> None:
    """Add the tally to the rollups (no commit: the caller's transaction carries it)."""
    if not tally:
        return
    rows = [{"org_id": org_id, "hour": hour, "metric": metric, "dim": dim, "value": n}
            for (org_id, hour, metric, dim), n in sorted(tally.counts.items(), key=lambda kv: (
                kv[0][0], str(kv[0][2]), kv[0][1], kv[0][3])) if n]
    stmt = dialect_insert(HourlyRollup)
    stmt = stmt.on_conflict_do_update(index_elements=["org_id", "metric", "hour", "dim"],
                                      set_={"value": HourlyRollup.value + stmt.excluded.value})
    db.session.execute(stmt, rows)


def move(metric: RollupMetric, moves) -> None:
    """Move counts between the dims of a gauge, ``(organisation, dim before or None: new, dim
    after)`` each (no commit: in the transaction of the change). Whatever moves a prospect's
    stage calls it with ``PROSPECT_STAGE``, so the funnel never counts prospects."""
    tally = Tally()
    for org_id, before, after in moves:
        if before is not None:
            tally.count(org_id, ALL_TIME, metric, before, -1)
        tally.count(org_id, ALL_TIME, metric, after)
    add(tally)


class Snapshot:
    """Every rollup of the organisation in force from ``since`` on, and its gauges, read in one
    query: what a page showing several metrics reads them from."""

    def __init__(self, since: datetime):
        t = HourlyRollup.__table__  # the table, so about a thousand rows come back as plain tuples
        org = t.c.org_id == tenancy.require()
        self.since = hour_of(since)
        self.rows: dict[str, list[tuple[datetime, str, int]]] = {}
        self.gauges: dict[str, dict[str, int]] = {}
        # Two ranges of the primary key (organisation, metric, hour): the hours since, the gauges.
        hourly = [m for m in RollupMetric if m not in GAUGES]
        # Hours come back as seconds since the epoch: an integer reads several times faster than a
        # timestamp with its time zone, and a page's thousand rows name only a few dozen hours.
        metric, epoch = type_coerce(t.c.metric, String), cast(extract("epoch", t.c.hour), BigInteger)
        stmt = union_all(
            select(metric, epoch, t.c.dim, t.c.value).where(org, t.c.metric.in_(hourly), t.c.hour >= self.since),
            select(metric, epoch, t.c.dim, t.c.value).where(org, t.c.metric.in_(GAUGES), t.c.hour == ALL_TIME))
        hours: dict[int, datetime] = {}
        for name, seconds, dim, value in db.session.execute(stmt).all():
            if not seconds:  # ALL_TIME
                gauge = self.gauges.setdefault(name, {})
                gauge[dim] = gauge.get(dim, 0) + value
                continue
            hour = hours.get(seconds)
            if hour is None:
                hour = hours[seconds] = datetime.fromtimestamp(seconds, UTC)
            self.rows.setdefault(name, []).append((hour, dim, value))

    def read(self, metric: RollupMetric, since: datetime) -> list[tuple[datetime, str, int]]:
        """(hour, dim, value) of ``metric`` from ``since`` (no earlier than the snapshot's) on."""
        since = hour_of(since)
        if since < self.since:
            raise ValueError(f"the snapshot starts at {self.since}, after {since}")
        return [row for row in self.rows.get(metric, ()) if row[0] >= since]

    def gauge(self, metric: RollupMetric) -> dict[str, int]:
        return dict(self.gauges.get(metric, {}))


def quantile(histogram: dict[str, int], q: float) -> float | None:
    """The ``q`` quantile (0–1) in ms of a histogram {bucket: count}, interpolated inside its
    bucket; a quantile in the last bucket is its lower bound (more than an hour). None: empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen, lower = q * total, 0, 0.0
    for bound in BUCKETS_MS:
        n = histogram.get(str(bound), 0)
        if n and seen + n >= rank:
            return lower + (bound - lower) * (rank - seen) / n
        seen, lower = seen + n, float(bound)
    return lower
