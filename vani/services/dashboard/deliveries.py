"""Outbound deliveries as the dashboard reads them: summary, filtered lists, detail.

Reading only; retrying, rotating and sending go through ``vani.services.webhooks``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select

from vani.api.pagination import keyset, page
from vani.extensions import db
from vani.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.services import webhooks
from vani.services.dashboard.filters import parse_choice, parse_day, parse_int


@dataclass
class DeliverySummary:
    by_status: dict[str, int] = field(default_factory=dict)
    failing: list[WebhookSubscription] = field(default_factory=list)
    subscriptions: int = 0

    @property
    def finished(self) -> int:
        return self.by_status.get("delivered", 0) + self.by_status.get("failed", 0)

    @property
    def success_rate(self) -> float | None:
        """Delivered share of the deliveries created in the window that have finished."""
        return self.by_status.get("delivered", 0) / self.finished if self.finished else None


def failing_subscriptions(limit: int = 20) -> list[WebhookSubscription]:
    s = WebhookSubscription
    return list(db.session.execute(
        select(s).where(or_(s.consecutive_failures > 0, s.disabled_reason.is_not(None)))
        .order_by(s.consecutive_failures.desc(), s.id).limit(limit)).scalars())


def delivery_summary(hours: int = 24) -> DeliverySummary:
    summary = DeliverySummary(by_status=webhooks.status_counts(since=utcnow() - timedelta(hours=hours)))
    summary.failing = failing_subscriptions()
    summary.subscriptions = db.session.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one()
    return summary


@dataclass
class DeliveryFilters:
    status: str | None = None
    event_type: str | None = None
    subscription_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, args) -> "DeliveryFilters":
        return cls(
            status=parse_choice("status", args.get("status"), DeliveryStatus.ALL),
            event_type=(args.get("event") or "").strip() or None,
            subscription_id=parse_int("subscription", args.get("subscription")),
            since=parse_day("from", args.get("from")),
            until=parse_day("to", args.get("to"), end=True),
        )

    def apply(self, stmt: Select) -> Select:
        d = WebhookDelivery
        if self.status:
            stmt = stmt.where(d.status == self.status)
        if self.event_type:
            stmt = stmt.where(d.event_type == self.event_type)
        if self.subscription_id is not None:
            stmt = stmt.where(d.subscription_id == self.subscription_id)
        if self.since:
            stmt = stmt.where(d.created_at >= self.since)
        if self.until:
            stmt = stmt.where(d.created_at < self.until)
        return stmt

    def as_args(self) -> dict[str, str]:
        """The same filters as query/form arguments."""
        out = {"status": self.status, "event": self.event_type,
               "subscription": str(self.subscription_id) if self.subscription_id is not None else None,
               "from": self.since.date().isoformat() if self.since else None,
               "to": (self.until - timedelta(days=1)).date().isoformat() if self.until else None}
        return {k: v for k, v in out.items() if v}


def list_deliveries(filters: DeliveryFilters, cursor: str | None, limit: int):
    stmt = filters.apply(select(WebhookDelivery))
    stmt = keyset(stmt, WebhookDelivery.created_at, WebhookDelivery.id, cursor, limit)
    return page(list(db.session.execute(stmt).scalars()), limit, "created_at")


def _failed_retryable(filters: DeliveryFilters, columns) -> Select:
    failed = DeliveryFilters(**{**filters.__dict__, "status": DeliveryStatus.FAILED})
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    return failed.apply(select(*columns).where(WebhookDelivery.subscription_id.in_(active)))


def failed_matching(filters: DeliveryFilters) -> int:
    """How many failed deliveries "Retry all failed" re-queues for these filters (those of
    disabled subscriptions are skipped: enable the subscription first)."""
    return db.session.execute(_failed_retryable(filters, [func.count(WebhookDelivery.id)])).scalar_one()


def retry_all_failed(filters: DeliveryFilters) -> int:
    """Re-queue the failed deliveries matching the filters through the outbound service."""
    if filters.event_type is None and filters.until is None:
        return webhooks.retry_failed(since=filters.since, subscription_id=filters.subscription_id)
    done = 0
    for delivery_id in db.session.execute(_failed_retryable(filters, [WebhookDelivery.id])).scalars().all():
        try:
            webhooks.retry_delivery(delivery_id)
            done += 1
        except webhooks.WebhookError:  # being delivered right now, or disabled meanwhile
            db.session.rollback()
    return done


def delivery_attempts(delivery_id: int) -> list[DeliveryAttempt]:
    """Newest attempt first."""
    return list(reversed(webhooks.list_attempts(delivery_id)))


def event_types() -> list[str]:
    return list(db.session.execute(select(WebhookDelivery.event_type).distinct()
                                   .order_by(WebhookDelivery.event_type).limit(100)).scalars())


def health_label(sub: WebhookSubscription) -> str:
    if not sub.active:
        return "disabled"
    if sub.consecutive_failures:
        return "failing"
    return "healthy"
