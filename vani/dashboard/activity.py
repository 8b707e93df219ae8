"""The overview's charts beyond events per hour: deliveries per hour, delivery latency and
processing lag (p50 and p95 per hour, from the rollups' histograms), and the stage funnel."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from vani.dashboard.overview import snapshot, window
from vani.models import DeliveryStatus, ProspectStage, RollupMetric
from vani.models.base import utcnow
from vani.work import rollups

RETRYING = "retrying"  # the rollups' name for a failed attempt that will be retried


@dataclass
class DeliveryHour:
    start: datetime
    delivered: int = 0
    failed: int = 0  # failed attempts: retried, or given up
    gave_up: int = 0


def delivery_hours(hours: int = 48, now: datetime | None = None,
                   snap: rollups.Snapshot | None = None) -> list[DeliveryHour]:
    first, _ = window(hours, now)
    out = {first + timedelta(hours=i): DeliveryHour(first + timedelta(hours=i)) for i in range(hours)}
    for hour, dim, value in (snap or rollups.Snapshot(first)).read(RollupMetric.DELIVERIES, first):
        item = out.get(hour)
        if item is None:
            continue
        if dim == DeliveryStatus.DELIVERED:
            item.delivered += value
        elif dim in (RETRYING, DeliveryStatus.FAILED):
            item.failed += value
            item.gave_up += value if dim == DeliveryStatus.FAILED else 0
    return list(out.values())


@dataclass
class DurationHour:
    start: datetime
    count: int = 0
    histogram: dict[str, int] = field(default_factory=dict)

    @cached_property
    def p50(self) -> float | None:
        return rollups.quantile(self.histogram, 0.5)

    @cached_property
    def p95(self) -> float | None:
        return rollups.quantile(self.histogram, 0.95)


def duration_hours(metric: RollupMetric, hours: int = 48, now: datetime | None = None,
                   snap: rollups.Snapshot | None = None) -> list[DurationHour]:
    """Per hour, the histogram of ``metric`` (delivery latency or processing lag)."""
    first, _ = window(hours, now)
    out = {first + timedelta(hours=i): DurationHour(first + timedelta(hours=i)) for i in range(hours)}
    for hour, dim, value in (snap or rollups.Snapshot(first)).read(metric, first):
        item = out.get(hour)
        if item is not None:
            item.histogram[dim] = item.histogram.get(dim, 0) + value
            item.count += value
    return list(out.values())


def overall(items: list[DurationHour]) -> DurationHour:
    """The whole window as one histogram."""
    total = DurationHour(items[0].start if items else datetime.min)
    for item in items:
        for dim, value in item.histogram.items():
            total.histogram[dim] = total.histogram.get(dim, 0) + value
        total.count += item.count
    return total


@dataclass
class FunnelStep:
    stage: ProspectStage
    here: int     # prospects at this stage now
    reached: int  # at this stage or further on


FUNNEL = (ProspectStage.LEAD, ProspectStage.BOOKED, ProspectStage.MET, ProspectStage.NO_SHOW, ProspectStage.PAID)


def funnel(snap: rollups.Snapshot | None = None) -> list[FunnelStep]:
    """Prospects per stage now (the rollups' gauge, kept as events create and move prospects),
    and how many reached each stage or went further."""
    here = dict.fromkeys(FUNNEL, 0)
    for stage, count in (snap or rollups.Snapshot(utcnow())).gauge(RollupMetric.PROSPECT_STAGE).items():
        if stage in here:
            here[ProspectStage(stage)] += count
    steps = []
    for stage in FUNNEL:
        reached = sum(n for s, n in here.items() if s.rank >= stage.rank and (s == stage or s.rank > stage.rank))
        steps.append(FunnelStep(stage, here[stage], reached))
    return steps


@dataclass
class Figures:
    """Everything the overview's charts and their tables show."""
    deliveries: list[DeliveryHour]
    latency: list[DurationHour]
    lag: list[DurationHour]
    funnel: list[FunnelStep]

    @property
    def latency_overall(self) -> DurationHour:
        return overall(self.latency)

    @property
    def lag_overall(self) -> DurationHour:
        return overall(self.lag)


def figures(hours: int = 48, now: datetime | None = None, snap: rollups.Snapshot | None = None) -> Figures:
    snap = snap or snapshot(hours, now)
    return Figures(delivery_hours(hours, now, snap), duration_hours(RollupMetric.DELIVERY_LATENCY, hours, now, snap),
                   duration_hours(RollupMetric.EVENT_LAG, hours, now, snap), funnel(snap))
