"""Subscription health after attempts: failure streaks, 410 Gone, and the five-day rule."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from vani.extensions import db
from vani.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from vani.models.base import as_utc, isoformat
from vani.notifications import alerts

GONE = 410
DISABLE_AFTER = timedelta(days=5)  # a subscription failing every attempt this long is disabled


def should_disable(first_failure_at: datetime | None, now: datetime) -> bool:
    """Every attempt since ``first_failure_at`` failed, for at least five days."""
    return first_failure_at is not None and now - first_failure_at >= DISABLE_AFTER


def apply(attempts: list[tuple[int, datetime, object]]) -> list[int]:
    """Update each touched subscription's streak from ``(subscription_id, at, result)`` (in
    attempt order; ``result`` has ``success`` and ``status_code``) and disable those that
    answered 410 or have failed every attempt for five days. No commit. Returns the ids of
    subscriptions disabled now."""
    by_sub: dict[int, list[tuple[datetime, object]]] = {}
    for sub_id, at, result in attempts:
        by_sub.setdefault(sub_id, []).append((at, result))
    disabled = []
    for sub_id, items in by_sub.items():
        last_ok = max((i for i, (_, r) in enumerate(items) if r.success), default=None)
        tail = items if last_ok is None else items[last_ok + 1:]
        values: dict = {}
        if last_ok is not None:
            values.update(last_success_at=items[last_ok][0], consecutive_failures=len(tail),
                          first_failure_at=tail[0][0] if tail else None)
        elif tail:
            values.update(consecutive_failures=WebhookSubscription.consecutive_failures + len(tail),
                          first_failure_at=func.coalesce(WebhookSubscription.first_failure_at, tail[0][0]))
        if tail:
            values["last_failure_at"] = tail[-1][0]
        db.session.execute(update(WebhookSubscription).where(WebhookSubscription.id == sub_id).values(**values)
                           .execution_options(synchronize_session=False))
        reason = _disable_reason(sub_id, items, tail)
        if reason and disable(sub_id, reason, items[-1][0]):
            disabled.append(sub_id)
    return disabled


def _disable_reason(sub_id: int, items, tail) -> str | None:
    gone = next((at for at, r in items if r.status_code == GONE), None)
    if gone is not None:
        return f"receiver answered 410 Gone at {isoformat(gone)}"
    if not tail or len(tail) != len(items):
        return None
    first = db.session.execute(select(WebhookSubscription.first_failure_at)
                               .where(WebhookSubscription.id == sub_id)).scalar()
    if should_disable(as_utc(first), tail[-1][0]):
        return f"every attempt failed for 5 days (since {isoformat(first)})"
    return None


def disable(sub_id: int, reason: str, at: datetime) -> bool:
    """Deactivate a subscription with ``reason``, cancel its waiting deliveries and alert the
    admins (once per disable). No commit. False when it was already inactive."""
    done = db.session.execute(update(WebhookSubscription)
                              .where(WebhookSubscription.id == sub_id, WebhookSubscription.active.is_(True))
                              .values(active=False, disabled_at=at, disabled_reason=reason[:2000])
                              .execution_options(synchronize_session=False)).rowcount
    cancel_pending(sub_id, f"subscription disabled: {reason}")
    if done:
        alerts.subscription_disabled(sub_id, reason[:2000], at)
    return bool(done)


def cancel_pending(subscription_id: int, reason: str) -> int:
    """Cancel waiting deliveries of a disabled subscription (no commit). Returns how many."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id,
               WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, last_error=reason[:2000], next_attempt_at=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
