"""Notifications: important moments (``Notification`` rows raised while processing events) sent
to the team's channels — Slack, email, and the outbound webhook catalogue — with a recorded
status per channel. See ``docs/notifications.md``."""
from __future__ import annotations

from sqlalchemy import select

from vani.extensions import db
from vani.models import Notification, NotificationSend, NotificationStatus, SendStatus
from vani.models.base import utcnow
from vani.notifications.render import dashboard_link, render
from vani.notifications.routing import CHANNELS, KINDS, channels_for, parse_routes
from vani.work import effects

__all__ = ["CHANNELS", "KINDS", "channels_for", "dashboard_link", "parse_routes", "render",
           "retry_notification", "sends_for"]

RETRYABLE = (SendStatus.FAILED, SendStatus.DEAD, SendStatus.SKIPPED)


def sends_for(notification_ids: list[int]) -> dict[int, list[NotificationSend]]:
    """Each notification's sends, by notification id (channels in a stable order)."""
    out: dict[int, list[NotificationSend]] = {i: [] for i in notification_ids}
    if notification_ids:
        rows = db.session.execute(select(NotificationSend).where(
            NotificationSend.notification_id.in_(notification_ids)).order_by(NotificationSend.id)).scalars()
        for row in rows:
            out[row.notification_id].append(row)
    return out


def retry_notification(notification_id: int, channel: str | None = None) -> list[int]:
    """Send a notification's failed, dead or skipped channels again now (planning any channel
    configured since). Returns the send ids queued. LookupError: no such notification;
    ValueError: nothing to retry."""
    from vani.notifications import moments, sending

    n = db.session.get(Notification, notification_id)
    if n is None:
        raise LookupError(f"no notification {notification_id}")
    now = utcnow()
    moments.plan([(n.id, n.kind, n.org_id)], now)
    stmt = select(NotificationSend).where(NotificationSend.notification_id == n.id,
                                          NotificationSend.status.in_((*RETRYABLE, SendStatus.PENDING)))
    if channel:
        stmt = stmt.where(NotificationSend.channel == channel)
    rows = list(db.session.execute(stmt).scalars())
    if not rows:
        db.session.rollback()
        raise ValueError("nothing to retry: every channel was sent or is being sent")
    for row in rows:
        row.status, row.next_attempt_at, row.send_started_at = SendStatus.PENDING, now, None
    n.status = NotificationStatus.PENDING
    effects.wake(sending.NOTIFICATION_SENDS)
    db.session.commit()
    return [row.id for row in rows]
