"""Sending notifications: one ``NotificationSend`` row per (notification, channel), each sent by
an RQ job on the notifications queue.

A send is claimed with a conditional UPDATE before anything goes out, so two jobs for the same
row (the hook, a retry, the sweeper) never both send; a sent row is never claimed again. A
failure records the error and the next attempt time, and schedules a retry job; the sweeper
picks up whatever is due if that job is lost. A worker killed mid-send leaves the row
``sending``; after ``STUCK_AFTER`` it is sent again (at-least-once for that rare case).
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import exists, or_, select, update

from vani.extensions import db
from vani.models import Notification, NotificationSend, SendStatus
from vani.models.base import as_utc, utcnow
from vani.services import queue
from vani.services.dbutil import insert_ignore
from vani.services.notifications import mail, routing, slack, webhook
from vani.services.notifications.base import ChannelError
from vani.services.notifications.render import render

log = logging.getLogger(__name__)

SENDERS = {"slack": slack.send, "email": mail.send, "webhook": webhook.send}
RETRY_SECONDS = (30, 120, 600, 1800, 3600, 3 * 3600)  # then every 3 h until VANI_NOTIFY_MAX_ATTEMPTS
STUCK_AFTER = timedelta(minutes=10)
PENDING_GRACE = timedelta(seconds=30)  # the hook enqueues new sends itself


def retry_delay(attempts: int) -> timedelta:
    base = RETRY_SECONDS[min(max(attempts, 1), len(RETRY_SECONDS)) - 1]
    if current_app.config.get("VANI_RETRY_JITTER", True):
        base *= 1 + random.random() * 0.2
    return timedelta(seconds=base)


def plan(notification_ids: list[int]) -> list[int]:
    """Create the send rows of these notifications (once per channel) and return the ids of
    their sends still waiting to go out."""
    if not notification_ids:
        return []
    cfg = current_app.config
    rows = db.session.execute(select(Notification).where(Notification.id.in_(notification_ids))).scalars()
    for n in rows:
        try:
            channels = routing.channels_for(n.kind, cfg)
        except routing.RouteError as exc:
            n.last_error = f"VANI_NOTIFY_ROUTES: {exc}"
            log.error("notification %s not routed: VANI_NOTIFY_ROUTES: %s", n.id, exc)
            continue
        has_sends = db.session.execute(
            select(exists().where(NotificationSend.notification_id == n.id))).scalar()
        if not channels and not has_sends and n.status == "pending":
            n.status, n.last_error = "skipped", f"no channel is routed for {n.kind}"
            continue
        now = utcnow()
        for channel in channels:
            db.session.execute(insert_ignore(NotificationSend, dict(
                notification_id=n.id, channel=channel, status=SendStatus.PENDING, attempts=0,
                created_at=now, updated_at=now), ["notification_id", "channel"]))
    db.session.commit()
    return list(db.session.execute(select(NotificationSend.id).where(
        NotificationSend.notification_id.in_(notification_ids),
        NotificationSend.status == SendStatus.PENDING).order_by(NotificationSend.id)).scalars())


def _job():
    from vani.jobs.notifications import send

    return send


ENQUEUE_CHUNK = 50


def enqueue(send_ids: list[int]) -> bool:
    """Hand sends to the workers, a chunk per job; False when Redis is unreachable (the sweeper
    retries)."""
    from vani.jobs.notifications import send_many

    try:
        q = queue.get_queue(queue.QUEUE_NOTIFICATIONS)
        for i in range(0, len(send_ids), ENQUEUE_CHUNK):
            q.enqueue(send_many, send_ids[i:i + ENQUEUE_CHUNK], job_timeout=600, result_ttl=300,
                      failure_ttl=86400)
        return True
    except RedisError as exc:
        log.warning("redis unreachable, %d notification send(s) wait for the sweeper: %s", len(send_ids), exc)
        return False


def _schedule_retry(send_id: int, delay: timedelta) -> None:
    q = queue.get_queue(queue.QUEUE_NOTIFICATIONS)
    if not q.is_async:
        return
    try:
        q.enqueue_in(delay, _job(), send_id, job_timeout=120, result_ttl=300, failure_ttl=86400)
    except RedisError as exc:
        log.warning("could not schedule retry of notification send %s (sweeper will): %s", send_id, exc)


def claimable(now: datetime):
    return or_(
        NotificationSend.status == SendStatus.PENDING,
        (NotificationSend.status == SendStatus.FAILED) & (NotificationSend.next_attempt_at <= now),
        (NotificationSend.status == SendStatus.SENDING) & (NotificationSend.claimed_at < now - STUCK_AFTER),
    )


def claim(send_id: int, now: datetime) -> bool:
    result = db.session.execute(
        update(NotificationSend).where(NotificationSend.id == send_id, claimable(now))
        .values(status=SendStatus.SENDING, claimed_at=now, attempts=NotificationSend.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def summarise(n: Notification, now: datetime) -> None:
    """Keep the notification's own status, attempts and error in step with its sends."""
    sends = list(db.session.execute(
        select(NotificationSend).where(NotificationSend.notification_id == n.id)).scalars())
    if not sends:
        return
    n.attempts = sum(s.attempts for s in sends)
    failed = [s for s in sends if s.status == SendStatus.FAILED]
    if failed:
        n.status = "failed"
        n.last_error = "; ".join(f"{s.channel}: {s.last_error}" for s in failed)[:2000]
    elif all(s.status in SendStatus.DONE for s in sends):
        delivered = any(s.status in (SendStatus.SENT, SendStatus.COVERED) for s in sends)
        n.status = "sent" if delivered else "skipped"
        n.last_error = None if delivered else "; ".join(f"{s.channel}: {s.detail}" for s in sends)[:2000]
        n.sent_at = n.sent_at or now
    else:
        n.status = "pending"


def deliver(send_id: int, now: datetime | None = None) -> str | None:
    """Send one claimed row. Returns its new status, or None when it was not claimable."""
    now = now or utcnow()
    if not claim(send_id, now):
        return None
    row = db.session.get(NotificationSend, send_id, populate_existing=True)
    n = db.session.get(Notification, row.notification_id)
    cfg = current_app.config
    missing = routing.missing_setting(row.channel, cfg)
    error = None
    if row.channel not in SENDERS:
        status, detail = SendStatus.SKIPPED, f"unknown channel {row.channel!r}"
    elif missing:
        status, detail = SendStatus.SKIPPED, missing
    else:
        rendered = render(n)
        db.session.commit()  # no transaction stays open during network I/O
        try:
            status, detail = SENDERS[row.channel](rendered, cfg)
        except ChannelError as exc:
            status, detail, error = SendStatus.FAILED, None, str(exc)
        except Exception as exc:  # a bug in a channel must not leave the row "sending"
            log.exception("notification send %s crashed", send_id)
            status, detail, error = SendStatus.FAILED, None, f"{type(exc).__name__}: {exc}"[:500]
    row = db.session.get(NotificationSend, send_id, populate_existing=True)
    row.status, row.updated_at = status, utcnow()
    retry_in = None
    if status == SendStatus.FAILED:
        row.last_error = error
        if row.attempts < cfg.get("VANI_NOTIFY_MAX_ATTEMPTS", 6):
            retry_in = retry_delay(row.attempts)
            row.next_attempt_at = now + retry_in
        else:
            row.next_attempt_at = None  # gave up; a person can retry it
    else:
        row.detail, row.last_error, row.next_attempt_at = detail, None, None
        row.sent_at = now if status in (SendStatus.SENT, SendStatus.COVERED) else None
    summarise(db.session.get(Notification, row.notification_id), now)
    db.session.commit()
    queue.publish(queue.LIVE_CHANNEL, f"notification:{row.notification_id}")
    if retry_in is not None:
        _schedule_retry(send_id, retry_in)
    return status


def due_send_ids(now: datetime, limit: int = 1000) -> list[int]:
    stmt = select(NotificationSend.id).where(or_(
        (NotificationSend.status == SendStatus.PENDING) & (NotificationSend.created_at < now - PENDING_GRACE),
        (NotificationSend.status == SendStatus.FAILED) & (NotificationSend.next_attempt_at <= now),
        (NotificationSend.status == SendStatus.SENDING) & (NotificationSend.claimed_at < now - STUCK_AFTER),
    )).order_by(NotificationSend.id).limit(limit)
    return list(db.session.execute(stmt).scalars())


def sweep(now: datetime | None = None) -> int:
    """Plan notifications the hook missed and enqueue every send that is due. Returns how many."""
    now = as_utc(now) or utcnow()
    unplanned = list(db.session.execute(select(Notification.id).where(
        Notification.status == "pending",
        ~exists().where(NotificationSend.notification_id == Notification.id),
    ).order_by(Notification.id).limit(500)).scalars())
    plan(unplanned)
    due = due_send_ids(now)
    db.session.rollback()
    if due and not enqueue(due):
        raise RuntimeError("Redis is unreachable; notification sends stay recorded until it is back")
    return len(due)
