"""Alerts on silent failure: notifications to the admins when work stops without anyone seeing
it (dead letters, a provider subscription disabled, a provider gone quiet, an outbound
subscription disabled, a Vani process gone silent), each raised once per incident: its moment key names the incident."""
from __future__ import annotations

import logging
import statistics
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from vani.extensions import db
from vani.models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    Organisation,
    ProcessHeartbeat,
    ProviderConnection,
    SubscriptionState,
    WebhookEvent,
    WebhookSubscription,
)
from vani.models.base import as_utc, isoformat, utcnow
from vani.models.masking import mask_url
from vani.notifications import moments
from vani.work import heartbeat
from vani.work.lane import installed

log = logging.getLogger(__name__)

HISTORY = 50       # events whose gaps give a provider's usual gap
MIN_EVENTS = 10    # fewer than this: the provider does not normally have events
QUIET_FACTOR = 10  # VANI_ALERT_QUIET_FACTOR: quiet when the silence is this many usual gaps…
QUIET_FLOOR = timedelta(hours=6)  # …and longer than VANI_ALERT_QUIET_MIN_HOURS


def _row(org_id: int, kind: NotificationKind, key: str, now: datetime, data: dict, event_id: int | None = None) -> dict:
    return dict(org_id=org_id, kind=kind, moment_key=f"{kind}:{key}"[:255], status=NotificationStatus.PENDING,
                meeting_id=None, prospect_id=None, event_id=event_id, data=data, attempts=0, created_at=now)


def dead_letters(now: datetime) -> list[dict]:
    """Per organisation and lane with dead letters: one alert per newest dead row."""
    rows = []
    for lane in installed():
        t = lane.model.__table__
        found = db.session.execute(select(t.c.org_id, func.max(t.c.id), func.count()).where(
            t.c.status == lane.dead).group_by(t.c.org_id)).all()
        rows += [_row(org_id, NotificationKind.ALERT_DEAD_LETTERS, f"{lane.name}:{newest}", now,
                      {"lane": lane.name, "count": count, "newest_id": newest}) for org_id, newest, count in found]
    return rows


def provider_subscriptions(now: datetime) -> list[dict]:
    """Connections whose provider reported their webhook subscription disabled: one alert per
    subscription (a provider never re-enables one; the repair makes a new subscription)."""
    conns = db.session.execute(select(ProviderConnection).where(
        ProviderConnection.subscription_state == SubscriptionState.DISABLED)
        .execution_options(unscoped=True)).scalars()
    kind = NotificationKind.ALERT_PROVIDER_SUBSCRIPTION_DISABLED
    return [_row(c.org_id, kind, f"{c.id}:{c.subscription_uri or ''}", now,
                 {"provider": c.provider, "connection_id": c.id, "subscription_uri": c.subscription_uri,
                  "found_at": isoformat(c.checked_at)}) for c in conns]


def quiet(times: list[datetime], now: datetime, factor: float, floor: timedelta) -> tuple[timedelta, timedelta] | None:
    """(silence, usual gap) when a provider with ``times`` (newest first) has been quiet for more
    than max(``factor`` × its median gap, ``floor``); None otherwise or with too little history."""
    if len(times) < MIN_EVENTS:
        return None
    usual = statistics.median(a - b for a, b in zip(times, times[1:]))
    silence = now - times[0]
    return (silence, usual) if silence > max(usual * factor, floor) else None


def quiet_providers(now: datetime) -> list[dict]:
    """Providers quiet for much longer than usual: one alert per last event."""
    cfg = current_app.config
    factor = float(cfg.get("VANI_ALERT_QUIET_FACTOR") or QUIET_FACTOR)
    floor = timedelta(hours=float(cfg.get("VANI_ALERT_QUIET_MIN_HOURS") or QUIET_FLOOR.total_seconds() / 3600))
    t = WebhookEvent.__table__
    rows = []
    for org_id, provider in db.session.execute(select(t.c.org_id, t.c.provider).distinct()).all():
        recent = db.session.execute(select(t.c.id, t.c.received_at).where(
            t.c.org_id == org_id, t.c.provider == provider).order_by(
            t.c.received_at.desc(), t.c.id.desc()).limit(HISTORY)).all()
        found = quiet([as_utc(r.received_at) for r in recent], now, factor, floor)
        if found:
            silence, usual = found
            rows.append(_row(org_id, NotificationKind.ALERT_PROVIDER_QUIET, f"{provider}:{recent[0].id}", now, {
                "provider": provider, "last_event_id": recent[0].id, "last_at": isoformat(recent[0].received_at),
                "quiet_hours": round(silence.total_seconds() / 3600, 1),
                "usual_minutes": round(usual.total_seconds() / 60, 1)}, event_id=recent[0].id))
    return rows


def quiet_processes(now: datetime) -> list[dict]:
    """Workers, schedulers and mail watchers whose heartbeat went silent (killed, or their host
    gone): one alert per silent process, to every organisation, whose work they all do."""
    t = ProcessHeartbeat.__table__
    rows = db.session.execute(select(t.c.role, t.c.host, t.c.pid, t.c.started_at, t.c.last_beat)).all()
    limit = heartbeat.silent_after(current_app.config)
    silent = [r for r in rows if now - as_utc(r.last_beat) > limit]
    if not silent:
        return []
    live = {role: sum(1 for r in rows if r.role == role and now - as_utc(r.last_beat) <= limit)
            for role in {r.role for r in silent}}
    org_ids = db.session.execute(select(Organisation.id).execution_options(unscoped=True)).scalars().all()
    return [_row(org_id, NotificationKind.ALERT_PROCESS_QUIET, f"{r.role}:{r.host}:{r.pid}:{isoformat(r.started_at)}",
                 now, {"role": str(r.role), "host": r.host, "pid": r.pid, "last_beat": isoformat(r.last_beat),
                       "silent_seconds": int((now - as_utc(r.last_beat)).total_seconds()),
                       "live_of_role": live[r.role]})
            for r in silent for org_id in org_ids]


def subscription_disabled(sub_id: int, reason: str, at: datetime) -> None:
    """An outbound subscription was disabled automatically (410, or failing for days): raised in
    the transaction that disabled it, once per (subscription, disable time). No commit. The alert
    reaches every member, so it names the URL masked (``masking``)."""
    t = WebhookSubscription.__table__
    sub = db.session.execute(select(t.c.org_id, t.c.url).where(t.c.id == sub_id)).one_or_none()
    if sub is None:
        return
    raise_new([_row(sub.org_id, NotificationKind.ALERT_SUBSCRIPTION_DISABLED, f"{sub_id}:{isoformat(at)}", at,
                    {"subscription_id": sub_id, "url": mask_url(sub.url), "reason": reason, "disabled_at": isoformat(at)})],
              at)


def raise_new(rows: list[dict], now: datetime) -> int:
    """Write the alerts not raised before (by organisation and moment key) and plan their sends.
    No commit. Returns how many were new."""
    t = Notification.__table__
    new = []
    for org_id in {r["org_id"] for r in rows}:
        mine = [r for r in rows if r["org_id"] == org_id]
        seen = set(db.session.execute(select(t.c.moment_key).where(
            t.c.org_id == org_id, t.c.moment_key.in_([r["moment_key"] for r in mine]))).scalars())
        new += [r for r in mine if r["moment_key"] not in seen]
    moments.write(new, now)
    return len(new)


CHECKS = {"dead_letters": dead_letters, "provider_subscription_disabled": provider_subscriptions,
          "provider_quiet": quiet_providers, "process_quiet": quiet_processes}


def check(now: datetime | None = None) -> dict[str, int]:
    """Every organisation's dead letters, provider subscriptions and provider traffic checked;
    what is new raised (committed). Returns how many alerts each check raised."""
    now = now or utcnow()
    counts = {}
    for name, find in CHECKS.items():
        counts[name] = raise_new(find(now), now)
    db.session.commit()  # the sends of what it raised are woken by the commit
    log.info("alerts: %s", counts)
    return counts
