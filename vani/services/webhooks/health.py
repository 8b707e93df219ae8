"""Subscription health after a batch of attempts: failure streaks, 410 Gone, the five-day rule."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from vani.extensions import db
from vani.models import WebhookSubscription
from vani.models.base import as_utc, isoformat
from vani.services.webhooks import policy
from vani.services.webhooks.subscriptions import cancel_pending


def apply_health(outcomes) -> list[int]:
    """Update each touched subscription's streak from ``outcomes`` (in attempt order) and disable
    those that answered 410 or have failed every attempt for five days. No commit.
    Returns the ids of subscriptions disabled now."""
    by_sub: dict[int, list] = {}
    for o in outcomes:
        by_sub.setdefault(o.job.subscription_id, []).append(o)
    disabled = []
    for sub_id, items in by_sub.items():
        last_ok = max((i for i, o in enumerate(items) if o.result.success), default=None)
        tail = items if last_ok is None else items[last_ok + 1:]
        values: dict = {}
        if last_ok is not None:
            values.update(last_success_at=items[last_ok].at, consecutive_failures=len(tail),
                          first_failure_at=tail[0].at if tail else None)
        elif tail:
            values.update(consecutive_failures=WebhookSubscription.consecutive_failures + len(tail),
                          first_failure_at=func.coalesce(WebhookSubscription.first_failure_at, tail[0].at))
        if tail:
            values["last_failure_at"] = tail[-1].at
        db.session.execute(update(WebhookSubscription).where(WebhookSubscription.id == sub_id).values(**values)
                           .execution_options(synchronize_session=False))
        reason = _disable_reason(sub_id, items, tail)
        if reason:
            disable(sub_id, reason, items[-1].at)
            disabled.append(sub_id)
    return disabled


def _disable_reason(sub_id: int, items, tail) -> str | None:
    gone = next((o for o in items if o.result.status_code == policy.GONE), None)
    if gone is not None:
        return f"receiver answered 410 Gone at {isoformat(gone.at)}"
    if not tail or len(tail) != len(items):
        return None
    first = db.session.execute(select(WebhookSubscription.first_failure_at)
                               .where(WebhookSubscription.id == sub_id)).scalar()
    now = tail[-1].at
    if policy.should_disable(as_utc(first), now):
        return f"every attempt failed for 5 days (since {isoformat(first)})"
    return None


def disable(sub_id: int, reason: str, at: datetime) -> None:
    """Deactivate a subscription with ``reason`` and cancel its waiting deliveries. No commit."""
    db.session.execute(update(WebhookSubscription)
                       .where(WebhookSubscription.id == sub_id, WebhookSubscription.active.is_(True))
                       .values(active=False, disabled_at=at, disabled_reason=reason[:2000])
                       .execution_options(synchronize_session=False))
    cancel_pending(sub_id, f"subscription disabled: {reason}")
