"""Outbound deliveries as the dashboard reads them: summary, filtered lists, detail.

Reading only; retrying, rotating and sending go through ``vani.outbound``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, func, literal, or_, select, type_coerce, union_all

from vani import outbound, tenancy
from vani.dashboard.filters import parse_choice, parse_day, parse_ids, parse_int
from vani.dashboard.menus import distinct_values
from vani.extensions import db
from vani.models import DeliveryAttempt, DeliveryStatus, RollupMetric, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.models.masking import conceal
from vani.models.paging import keyset_page
from vani.work import rollups


@dataclass
class DeliverySummary:
    by_status: dict[str, int] = field(default_factory=dict)
    failing: list[WebhookSubscription] = field(default_factory=list)
    subscriptions: int = 0

    @property
    def finished(self) -> int:
        return self.by_status.get(DeliveryStatus.DELIVERED, 0) + self.by_status.get(DeliveryStatus.FAILED, 0)

    @property
    def success_rate(self) -> float | None:
        """Delivered share of the deliveries created in the window that have finished."""
        return self.by_status.get(DeliveryStatus.DELIVERED, 0) / self.finished if self.finished else None


SUBSCRIPTIONS = "subscriptions"  # the count of subscriptions, beside the deliveries' states


def failing_subscriptions(limit: int = 20) -> list[WebhookSubscription]:
    s = WebhookSubscription
    return list(db.session.execute(
        select(s).where(or_(s.consecutive_failures > 0, s.disabled_reason.is_not(None)))
        .order_by(s.consecutive_failures.desc(), s.id).limit(limit)).scalars())


def delivery_summary(hours: int = 24, snap: rollups.Snapshot | None = None) -> DeliverySummary:
    """Delivered and failed (given up) over the last ``hours`` hours from the hourly rollups;
    pending and delivering: those created in that time still waiting."""
    since = utcnow() - timedelta(hours=hours)
    first = since + timedelta(hours=1)  # the hour of now and the hours - 1 before it
    by_status = dict.fromkeys(DeliveryStatus, 0)
    for _, dim, value in (snap or rollups.Snapshot(first)).read(RollupMetric.DELIVERIES, first):
        if dim in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            by_status[DeliveryStatus(dim)] += value
    d, subs, org = WebhookDelivery.__table__, WebhookSubscription.__table__, tenancy.require()
    counts = dict(db.session.execute(union_all(  # one statement: the waiting deliveries and the subscriptions
        select(type_coerce(d.c.status, String), func.count())
        .where(d.c.org_id == org, d.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)),
               d.c.created_at >= since).group_by(d.c.status),
        select(literal(SUBSCRIPTIONS), func.count()).where(subs.c.org_id == org))).all())
    summary = DeliverySummary(by_status=by_status)
    summary.subscriptions = counts.pop(SUBSCRIPTIONS, 0)
    by_status.update({DeliveryStatus(status): n for status, n in counts.items()})
    summary.failing = failing_subscriptions()
    return summary


@dataclass
class DeliveryFilters:
    status: str | None = None
    event_type: str | None = None
    subscription_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] = ()  # live refresh: only these rows (those that still match the filters)

    @classmethod
    def from_args(cls, args) -> "DeliveryFilters":
        return cls(
            status=parse_choice("status", args.get("status"), list(DeliveryStatus)),
            event_type=(args.get("event") or "").strip() or None,
            subscription_id=parse_int("subscription", args.get("subscription")),
            since=parse_day("from", args.get("from")),
            until=parse_day("to", args.get("to"), end=True),
            ids=parse_ids("ids", args.get("ids")),
        )

    def query_args(self) -> dict:
        """The filters other than status, as ``outbound.delivery_query`` takes them."""
        return {"event": self.event_type, "subscription_id": self.subscription_id,
                "since": self.since, "until": self.until}

    def as_args(self) -> dict[str, str]:
        """The same filters as query/form arguments."""
        out = {"status": self.status, "event": self.event_type,
               "subscription": str(self.subscription_id) if self.subscription_id is not None else None,
               "from": self.since.date().isoformat() if self.since else None,
               "to": (self.until - timedelta(days=1)).date().isoformat() if self.until else None}
        return {k: v for k, v in out.items() if v}


def list_deliveries(filters: DeliveryFilters, cursor: str | None, limit: int):
    stmt = outbound.delivery_query(status=filters.status, **filters.query_args())
    if filters.ids:
        stmt = stmt.where(WebhookDelivery.id.in_(filters.ids))
    return keyset_page(stmt, WebhookDelivery.created_at, WebhookDelivery.id, cursor, limit)


def failed_matching(filters: DeliveryFilters) -> int:
    """How many failed deliveries "Retry all failed" re-queues for these filters (those of
    disabled subscriptions are skipped: enable the subscription first)."""
    return outbound.count_retryable(DeliveryStatus.FAILED, **filters.query_args())


def retry_all_failed(filters: DeliveryFilters) -> int:
    """Re-queue the failed deliveries matching the filters (any status filter is ignored)."""
    args = filters.query_args()
    return outbound.retry_failed(DeliveryStatus.FAILED, since=args.pop("since"),
                                 subscription_id=args.pop("subscription_id"), **args)


def delivery_attempts(delivery_id: int) -> list[DeliveryAttempt]:
    """Newest attempt first."""
    return list(reversed(outbound.list_attempts(delivery_id)))


def event_types() -> list[str]:
    return distinct_values(WebhookDelivery.event_type)


def subscription_choices(masked: bool = True) -> list[tuple[int, str]]:
    """(id, "#id url") of every subscription, for the filter menu; ``masked`` URLs (``masking``)
    unless the reader may see them whole."""
    choices = []
    for s in outbound.list_subscriptions():
        url = conceal("url", s.url) if masked else s.url
        choices.append((s.id, f"#{s.id} {url if len(url) <= 60 else url[:59] + '…'}"))
    return choices


def health_label(sub: WebhookSubscription) -> str:
    if not sub.active:
        return "disabled"
    if sub.consecutive_failures:
        return "failing"
    return "healthy"
