"""Writing a batch's outcomes: attempts, delivery states and subscription health, in one
transaction with a few executemany statements (not one commit per delivery)."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, update

from vani.extensions import db
from vani.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from vani.models.base import UTCDateTime
from vani.services.webhooks import dispatch, policy
from vani.services.webhooks.health import apply_health

_T = WebhookDelivery.__table__
# One statement for every outcome; delivered_at is kept when the attempt did not deliver.
_STATE = (update(_T).where(_T.c.id == bindparam("b_id")).values(
    status=bindparam("b_status"), attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
    last_attempt_at=bindparam("b_at"), last_status_code=bindparam("b_code"), last_error=bindparam("b_error"),
    manual=False, delivered_at=func.coalesce(bindparam("b_delivered", type_=UTCDateTime), _T.c.delivered_at)))
_ATTEMPT = insert(DeliveryAttempt.__table__)
GONE_SKIP = "subscription disabled: receiver answered 410 Gone"


def write_states(rows: list[dict]) -> None:
    """Rows of ``b_id, b_status, b_attempts, b_next, b_at, b_code, b_error, b_delivered`` (executemany)."""
    if rows:
        db.session.execute(_STATE, rows)


def write_attempts(rows: list[dict]) -> None:
    if rows:
        db.session.execute(_ATTEMPT, rows)


def state(delivery_id: int, status: str, attempts: int, next_at, at, code, error, delivered=None) -> dict:
    return dict(b_id=delivery_id, b_status=status, b_attempts=attempts, b_next=next_at, b_at=at, b_code=code,
                b_error=error, b_delivered=delivered)


def record(outcomes: list, settings, rng: random.Random | None = None) -> list[int]:
    """Write the outcomes of ``worker.send_jobs`` and commit. Returns the ids whose state changed."""
    if not outcomes:
        return []
    ids = [o.job.delivery_id for o in outcomes]
    # Lock the rows (a concurrent delete of the subscription waits); skip rows that vanished.
    current = dict(db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts).where(WebhookDelivery.id.in_(ids))
        .with_for_update()).all())
    attempts, states, skipped = [], [], []
    for o in outcomes:
        delivery_id = o.job.delivery_id
        if delivery_id not in current:
            continue
        if o.skipped:
            skipped.append(delivery_id)
            continue
        number, r = current[delivery_id] + 1, o.result
        attempts.append(dict(delivery_id=delivery_id, number=number,
                             trigger="manual" if o.job.manual else "scheduled", url=o.job.url,
                             request_headers=o.headers, status_code=r.status_code, response_body=r.response_body,
                             duration_ms=r.duration_ms, error=r.error, success=r.success, created_at=o.at))
        if r.success:
            states.append(state(delivery_id, DeliveryStatus.DELIVERED, number, None, o.at, r.status_code, None, o.at))
            continue
        at_end = o.at + timedelta(milliseconds=r.duration_ms)
        nxt = policy.next_attempt(number, r.status_code, r.retry_after, at_end, settings.schedule, rng,
                                  settings.jitter)
        status = DeliveryStatus.PENDING if nxt else DeliveryStatus.FAILED
        states.append(state(delivery_id, status, number, nxt, o.at, r.status_code, r.error))
    write_attempts(attempts)
    write_states(states)
    if skipped:
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(skipped))
                           .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=GONE_SKIP,
                                   manual=False).execution_options(synchronize_session=False))
    apply_health([o for o in outcomes if o.job.delivery_id in current and not o.skipped])
    db.session.commit()
    changed = [row["b_id"] for row in states] + skipped
    dispatch.publish_deliveries(changed)
    return changed
