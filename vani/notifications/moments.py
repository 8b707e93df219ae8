"""Raising notifications: an important moment (a payment, a new prospect) recorded once, with a
send per channel planned in the same transaction, so the sends lane has everything it needs."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from vani.extensions import db
from vani.models import (
    Meeting,
    Notification,
    NotificationKind,
    NotificationSend,
    NotificationStatus,
    Prospect,
    SendStatus,
)
from vani.models.dbutil import dialect_insert
from vani.notifications import routing
from vani.notifications.channels import sender
from vani.notifications.sending import NOTIFICATION_SENDS
from vani.processing.context import EventContext
from vani.work import effects

log = logging.getLogger(__name__)


def notify(ctx: EventContext, kind: NotificationKind, moment_key: str, meeting: Meeting | None = None,
           prospect: Prospect | None = None, data: dict | None = None) -> None:
    """Record a moment once per ``moment_key``; written with the event's batch."""
    prospect = prospect or (meeting.prospect if meeting else None)
    ctx.notifications.append(dict(
        kind=kind, moment_key=moment_key[:255], status=NotificationStatus.PENDING,
        meeting_id=meeting.id if meeting else None, prospect_id=prospect.id if prospect else None,
        event_id=ctx.event_id, data=data or {}, attempts=0, created_at=ctx.received_at))


def write(rows: list[dict], now: datetime) -> list[int]:
    """Insert a batch's notifications (one per moment) and plan their sends. Returns the ids of
    the new sends."""
    if not rows:
        return []
    t = Notification.__table__
    stmt = (dialect_insert(t).on_conflict_do_nothing(index_elements=["org_id", "moment_key"])
            .returning(t.c.id, t.c.kind, t.c.org_id))
    created = [(r.id, r.kind, r.org_id) for r in db.session.execute(stmt, rows)]
    return plan(created, now)


def plan(notifications: list[tuple[int, str, int]], now: datetime) -> list[int]:
    """Create a pending send per channel each (id, kind, org_id) is routed to by its
    organisation. A notification routed nowhere is marked skipped; one that unreadable routes
    could not place stays pending with the reason (retry it once the routes are fixed). Returns
    the new send ids (their lane is woken when the transaction commits)."""
    sends, notes, settled = [], [], []
    settings: dict[int, Mapping] = {}
    for notification_id, kind, org_id in notifications:
        if org_id not in settings:
            settings[org_id] = routing.settings_for(org_id)
        try:
            channels = routing.channels_for(kind, settings[org_id])
        except routing.RouteError as exc:
            log.error("notification %s not routed: VANI_NOTIFY_ROUTES: %s", notification_id, exc)
            notes.append((notification_id, NotificationStatus.PENDING, f"VANI_NOTIFY_ROUTES: {exc}"))
            continue
        if not channels:
            notes.append((notification_id, NotificationStatus.SKIPPED, f"no channel is routed for {kind}"))
        known = 0
        for channel in channels:
            row = dict(org_id=org_id, notification_id=notification_id, channel=channel, status=SendStatus.PENDING,
                       attempts=0, next_attempt_at=now, detail=None, sent_at=None, created_at=now, updated_at=now)
            # The webhook channel: subscribers get the domain event itself, nothing to send.
            outcome = sender(channel).planned(kind)
            if outcome is not None:
                status, detail = outcome
                row.update(status=status, next_attempt_at=None, detail=detail,
                           sent_at=now if status == SendStatus.COVERED else None)
                known += 1
            sends.append(row)
        if channels and known == len(channels):
            settled.append(notification_id)
    for notification_id, status, reason in notes:
        db.session.execute(Notification.__table__.update().where(Notification.id == notification_id)
                           .values(status=status, last_error=reason))
    if not sends:
        return []
    s = NotificationSend.__table__
    stmt = (dialect_insert(s).on_conflict_do_nothing(index_elements=["notification_id", "channel"])
            .returning(s.c.id, s.c.status))
    created = db.session.execute(stmt, sends).all()
    if settled:  # only channels settled when planned (webhook): the notification is as done as it will be
        covered = {r["notification_id"] for r in sends if r["status"] == SendStatus.COVERED}
        for status, ids in ((NotificationStatus.SENT, [i for i in settled if i in covered]),
                            (NotificationStatus.SKIPPED, [i for i in settled if i not in covered])):
            if ids:
                db.session.execute(Notification.__table__.update().where(Notification.id.in_(ids))
                                   .values(status=status, sent_at=now))
    pending = sorted(i for i, status in created if status == SendStatus.PENDING)
    if pending:
        effects.wake(NOTIFICATION_SENDS)  # once the transaction that wrote them is committed
    return pending

