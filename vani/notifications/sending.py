"""Sending notifications: the ``notification_sends`` lane, one row per (notification, channel).

Each send is committed as started just before its channel is called. A worker that dies after
that point may already have posted to Slack or sent the mail, so the takeover makes the row a
dead letter ("may have gone out") instead of sending it twice; a person can retry it. Sends a
worker never started are simply taken over and sent.

Several sends are in flight at once (``work.in_flight``): everything that reads or writes the
database (settings, addressing, rendering, the started mark, the outcome) happens in the
claiming thread; only the channel's call runs on a send thread, at most ``PER_CHANNEL`` of them
to one organisation's channel.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from vani import metrics, tenancy, tracing, work
from vani.extensions import db
from vani.models import Notification, NotificationSend, NotificationStatus, SendStatus
from vani.models.base import utcnow
from vani.notifications import routing
from vani.notifications.base import ChannelError
from vani.notifications.channels import SENDERS, sender
from vani.notifications.render import Rendered, render
from vani.work import effects

log = logging.getLogger(__name__)

PER_CHANNEL = 4  # calls in flight at most to one organisation's channel (its Slack webhook, its mail server)
WAITS = (30, 120, 600, 1800, 3600)  # seconds, then every 3 h until VANI_NOTIFY_MAX_ATTEMPTS


def policy(cfg: Mapping) -> work.RetryPolicy:
    attempts = max(int(cfg.get("VANI_NOTIFY_MAX_ATTEMPTS", 6)), 1)
    waits = tuple(timedelta(seconds=WAITS[i] if i < len(WAITS) else 3 * 3600) for i in range(attempts - 1))
    return work.RetryPolicy(waits, jitter=0.1 if cfg.get("VANI_RETRY_JITTER", True) else 0.0)


def lease(cfg: Mapping) -> timedelta:
    return timedelta(seconds=max(20.0, float(cfg.get("VANI_NOTIFY_TIMEOUT_SECONDS", 10)) + 10))


def summarise(notification_id: int, now: datetime) -> None:
    """Keep the notification's own status, attempts and error in step with its sends."""
    n = db.session.get(Notification, notification_id, populate_existing=True)
    sends = list(db.session.execute(
        select(NotificationSend).where(NotificationSend.notification_id == notification_id)
        .execution_options(populate_existing=True)).scalars())
    if n is None or not sends:
        return
    n.attempts = sum(s.attempts for s in sends)
    failed = [s for s in sends if s.status in (SendStatus.FAILED, SendStatus.DEAD)]
    if failed:
        n.status = NotificationStatus.FAILED
        n.last_error = "; ".join(f"{s.channel}: {s.last_error}" for s in failed)[:2000]
    elif all(s.status in SendStatus.done() for s in sends):
        delivered = any(s.status in (SendStatus.SENT, SendStatus.COVERED) for s in sends)
        n.status = NotificationStatus.SENT if delivered else NotificationStatus.SKIPPED
        n.last_error = None if delivered else "; ".join(f"{s.channel}: {s.detail}" for s in sends)[:2000]
        n.sent_at = n.sent_at or now
    else:
        n.status = NotificationStatus.PENDING


def _send(channel: str, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str | None, str | None]:
    """Call the channel (on a send thread: no database): (status, detail, error)."""
    try:
        status, detail = SENDERS[channel].send(rendered, cfg)
        return SendStatus(status), detail, None
    except ChannelError as exc:
        return SendStatus.FAILED, None, str(exc)
    except Exception as exc:  # a bug in a channel must not leave the row running
        log.exception("notification send (%s) crashed", channel)
        return SendStatus.FAILED, None, f"{type(exc).__name__}: {exc}"[:500]


@dataclass(frozen=True)
class Begun:
    """What ``record`` needs of a send whose channel is being called."""
    channel: str
    notification_id: int
    kind: str
    request_id: str | None


def prepare(claim: work.Claim, send_id: int):
    """Ready one claimed row (the organisation in force is its own): settle it at once when there
    is nothing to send, else render it, address it, commit it as started and return the call."""
    row = db.session.get(NotificationSend, send_id, populate_existing=True)
    if row is None:
        return None
    cfg = routing.settings_for(row.org_id)
    notification = db.session.get(Notification, row.notification_id)
    channel = sender(row.channel)
    missing = channel.missing_setting(cfg) if channel else None
    if not missing and channel:
        cfg, missing = channel.address(notification, cfg)
    if channel is None or missing:
        detail = missing or f"unknown channel {row.channel!r}"
        claim.write([(send_id, SendStatus.SKIPPED, {"detail": detail, "last_error": None, "next_attempt_at": None})])
        metrics.notification_sent(row.channel, SendStatus.SKIPPED)
        _settled(row.org_id, row.notification_id)
        return None
    begun = Begun(row.channel, notification.id, notification.kind, notification.request_id)
    try:
        rendered = render(notification)  # reads the database: here, never on the send thread
    except Exception as exc:  # a bug in rendering fails this send, not the claim
        log.exception("notification %s could not be rendered", notification.id)
        state, columns = claim.failure(send_id, f"{type(exc).__name__}: {exc}"[:500])
        claim.write([(send_id, state, columns)])
        metrics.notification_sent(row.channel, SendStatus.FAILED)
        _settled(row.org_id, row.notification_id)
        return None
    started = db.session.execute(
        update(NotificationSend).where(NotificationSend.id == send_id, NotificationSend.lease_token == claim.token)
        .values(send_started_at=utcnow())).rowcount
    db.session.commit()  # from here on, a crash may have sent it: never sent again automatically
    if not started:
        claim.settled[send_id] = None
        return None
    return functools.partial(_send, row.channel, rendered, cfg), begun


def record(claim: work.Claim, send_id: int, begun: Begun, call: Future) -> None:
    """Write the outcome of a send's call (fenced by the claim), keep its notification in step, commit."""
    status, detail, error = call.result()
    metrics.notification_sent(begun.channel, status)
    with tracing.bound(begun.request_id):
        log.info("notification %s (%s) via %s: %s%s", begun.notification_id, begun.kind, begun.channel, status,
                 f" ({error})" if error else "")
    now = utcnow()
    if status == SendStatus.FAILED:
        state, columns = claim.failure(send_id, error or "the send failed", now=now)
        claim.write([(send_id, state, {**columns, "send_started_at": None})])
    else:
        sent_at = now if status in (SendStatus.SENT, SendStatus.COVERED) else None
        claim.write([(send_id, status, {"detail": detail, "last_error": None, "next_attempt_at": None,
                                        "sent_at": sent_at})])
    _settled(tenancy.require(), begun.notification_id)


def _settled(org_id: int, notification_id: int) -> None:
    summarise(notification_id, utcnow())
    effects.publish(org_id, f"notification:{notification_id}")
    db.session.commit()


NOTIFICATION_SENDS = work.Lane(
    name="notification_sends", model=NotificationSend,
    ready=(SendStatus.PENDING, SendStatus.FAILED), running=SendStatus.SENDING,
    retry=SendStatus.FAILED, dead=SendStatus.DEAD,
    handler=work.in_flight(prepare, record, key=("org_id", "channel"), per_key=lambda cfg: PER_CHANNEL),
    policy=policy, lease=lease, batch=50,
    claim_values=lambda now: {"send_started_at": None},
    unsure=lambda t: t.c.send_started_at.isnot(None),
)


def wake() -> bool:
    """Have a worker look at the due sends now (their rows were written by an earlier commit)."""
    return work.kick(NOTIFICATION_SENDS)
