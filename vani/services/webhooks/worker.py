"""The delivery loop: claim due deliveries in batches, send them, record the outcomes in bulk.

A claimed delivery is ``delivering`` with ``next_attempt_at`` as a lease; a worker that dies
leaves it to ``requeue_expired`` (run by the sweep), which records the lost attempt and queues
it again, so nothing is lost. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from vani.extensions import db
from vani.models import DeliveryStatus, OutboundEvent, WebhookDelivery, WebhookSubscription
from vani.models.base import utcnow
from vani.services.webhooks import policy, sender, signing
from vani.services.webhooks.results import record

LEASE_MARGIN = timedelta(seconds=30)


@dataclass
class Settings:
    timeout: float
    schedule: list[timedelta]
    jitter: bool
    allow_private: bool
    batch: int

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout) + LEASE_MARGIN

    @classmethod
    def from_app(cls) -> "Settings":
        cfg = current_app.config
        return cls(timeout=float(cfg.get("VANI_DELIVERY_TIMEOUT_SECONDS", 15)),
                   schedule=policy.parse_schedule(_or_default(cfg.get("VANI_RETRY_SCHEDULE"))),
                   jitter=bool(cfg.get("VANI_RETRY_JITTER", True)),
                   allow_private=bool(cfg.get("VANI_ALLOW_PRIVATE_TARGETS")),
                   batch=int(cfg.get("VANI_DELIVERY_BATCH", 100)))


def _or_default(schedule: str | None) -> str:
    """An explicit empty schedule means no retries; unset means the default."""
    return policy.DEFAULT_SCHEDULE if schedule is None else schedule


@dataclass
class Job:
    """What one send needs, copied out of the session so no transaction stays open while sending."""
    delivery_id: int
    subscription_id: int
    manual: bool
    url: str
    secrets: list[str]
    msg_id: str
    body: bytes
    body_text: str


@dataclass
class Outcome:
    job: Job
    at: datetime
    headers: dict
    result: sender.SendResult
    skipped: str | None = None  # not sent, and why
    extra: dict = field(default_factory=dict)


def claim(now: datetime, limit: int, lease: timedelta) -> list[int]:
    """Mark up to ``limit`` due deliveries of active subscriptions ``delivering``; commit; return ids."""
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    due = (select(WebhookDelivery.id)
           .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now,
                  WebhookDelivery.subscription_id.in_(active))
           .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
           .with_for_update(skip_locked=True))
    stmt = (update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()), WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.DELIVERING, next_attempt_at=now + lease)
            .returning(WebhookDelivery.id).execution_options(synchronize_session=False))
    ids = sorted(db.session.execute(stmt).scalars())
    db.session.commit()
    return ids


def load_jobs(ids: list[int], now: datetime) -> list[Job]:
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.manual, OutboundEvent, WebhookSubscription)
        .join(OutboundEvent, OutboundEvent.id == WebhookDelivery.outbound_event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)).all()
    jobs = []
    for delivery_id, manual, event, sub in rows:
        text = signing.event_body(event.msg_id, event.type, event.created_at, event.data)
        jobs.append(Job(delivery_id, sub.id, bool(manual), sub.url, sub.signing_secrets(now), event.msg_id,
                        text.encode(), text))
    db.session.rollback()  # end the read transaction before the network calls
    return jobs


def send_jobs(jobs: list[Job], now: datetime, settings: Settings) -> list[Outcome]:
    """Send each job in turn on the shared session, renewing the lease if the batch runs long."""
    started = time.monotonic()
    lease_deadline = started + settings.lease.total_seconds()
    gone: set[int] = set()
    outcomes = []
    for i, job in enumerate(jobs):
        at = now + timedelta(seconds=time.monotonic() - started)
        if time.monotonic() + settings.timeout + 5 > lease_deadline:
            extend_lease([j.delivery_id for j in jobs[i:]], at + settings.lease)
            lease_deadline = time.monotonic() + settings.lease.total_seconds()
        if job.subscription_id in gone:
            outcomes.append(Outcome(job, at, {}, sender.SendResult(None, None, None, 0), skipped="gone"))
            continue
        wall = utcnow()  # receivers check webhook-timestamp against their own clock
        headers = signing.request_headers(job.msg_id, wall, signing.sign(job.secrets, job.msg_id, wall,
                                                                         job.body_text))
        result = sender.post(job.url, job.body, headers, settings.timeout, settings.allow_private)
        if result.status_code == policy.GONE:
            gone.add(job.subscription_id)
        outcomes.append(Outcome(job, at, headers, result))
    return outcomes


def extend_lease(ids: list[int], until: datetime) -> None:
    db.session.execute(update(WebhookDelivery)
                       .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == DeliveryStatus.DELIVERING)
                       .values(next_attempt_at=until).execution_options(synchronize_session=False))
    db.session.commit()


def deliver_batch(now: datetime | None = None, settings: Settings | None = None,
                  rng: random.Random | None = None) -> int:
    """Claim, send and record one batch. Returns how many deliveries it attempted (0 = none due)."""
    settings = settings or Settings.from_app()
    now = now or utcnow()
    ids = claim(now, settings.batch, settings.lease)
    if not ids:
        return 0
    outcomes = send_jobs(load_jobs(ids, now), now, settings)
    record(outcomes, settings, rng)
    return len(ids)


def run_due(now: datetime | None = None, rng: random.Random | None = None, max_seconds: float = 240.0) -> int:
    """Deliver batches until nothing is due (or ``max_seconds`` passed). Returns deliveries attempted.

    ``now`` fixes the scheduling clock (tests); it advances by the real time spent.
    """
    settings = Settings.from_app()
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < max_seconds:
        clock = (now + timedelta(seconds=time.monotonic() - started)) if now else utcnow()
        done = deliver_batch(clock, settings, rng)
        if not done:
            break
        total += done
    return total
