"""Notification jobs: the after-processing hook, one send, and the sweeper."""
from __future__ import annotations

from sqlalchemy import select

from vani.extensions import db
from vani.models import Notification
from vani.services.notifications import delivery


def after_events(event_ids: list[int]) -> int:
    """Processing hook: plan and enqueue the notifications these events raised. Returns how many
    sends were queued."""
    ids = list(db.session.execute(select(Notification.id).where(Notification.event_id.in_(event_ids))).scalars())
    send_ids = delivery.plan(ids)
    if send_ids:
        delivery.enqueue(send_ids)
    return len(send_ids)


def send(send_id: int) -> str | None:
    """RQ job: send one (notification, channel). Idempotent: a sent row is never sent again."""
    return delivery.deliver(send_id)


def send_many(send_ids: list[int]) -> list[str | None]:
    """RQ job: send several (one job per processed batch, not one fork per send)."""
    return [delivery.deliver(send_id) for send_id in send_ids]


def sweep() -> int:
    """Scheduler job (every minute): enqueue pending, due-for-retry and abandoned sends."""
    return delivery.sweep()
