"""Sending deliveries: the ``deliveries`` lane.

The engine claims due deliveries of active subscriptions; this sends each one (signed, one
keep-alive session, a hard deadline per call) and records its attempt, its new state and the
subscription's health. Outcomes are written every few sends, fenced by the claim's token, so a
worker that lost its lease changes nothing, and one bad outcome never undoes another's.

The HTTP side (``post``, a coroutine on the process's sending loop): one POST through the egress
guard, under a hard deadline, no redirects followed, the response read bounded.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, insert, not_, select

from vani import egress, metrics, tenancy, tracing, work
from vani.extensions import db
from vani.models import (
    AttemptTrigger,
    DeliveryAttempt,
    DeliveryStatus,
    OutboundEvent,
    RollupMetric,
    SignatureScheme,
    WebhookDelivery,
    WebhookSubscription,
)
from vani.models.base import as_utc, utcnow
from vani.egress import aio
from vani.outbound import health, limits, shaping, signing
from vani.outbound.posting import SendResult, post
from vani.work import effects, inflight, rollups, stopping

log = logging.getLogger("vani.outbound.delivery")  # the name log filters select sends by

DEFAULT_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
RETRY_AFTER_STATUSES = (429, 503)
GONE = 410
GONE_SKIP = "subscription disabled: receiver answered 410 Gone"
RECORD_EVERY = 100  # sends between outcome writes (each write is six statements: fewer, larger ones)
RECORD_SECONDS = 1.0  # at most this long between writes (a crash re-sends what was not written)


def policy(cfg: Mapping) -> work.RetryPolicy:
    schedule = cfg.get("VANI_RETRY_SCHEDULE")
    waits = work.parse_schedule(DEFAULT_SCHEDULE if schedule is None else schedule)
    return work.RetryPolicy(waits, jitter=0.1 if cfg.get("VANI_RETRY_JITTER", True) else 0.0)


def lease(cfg: Mapping) -> timedelta:
    """Long enough for one call (the deadline) and some; renewed between calls."""
    return timedelta(seconds=max(20.0, float(cfg.get("VANI_DELIVERY_TIMEOUT_SECONDS", 15)) + 5))


@dataclass
class OutgoingDelivery:
    """What one send needs, copied out of the session so no transaction stays open while sending."""
    org_id: int
    delivery_id: int
    subscription_id: int
    manual: bool
    url: str
    secrets: list[str]
    msg_id: str
    body: str
    request_id: str | None = None  # the request its event follows from (vani.tracing)
    headers: dict[str, str] = field(default_factory=dict)  # the subscription's custom headers
    rate_limit: int | None = None
    scheme: str = SignatureScheme.STANDARD_WEBHOOKS  # how it is signed (the body was made for it)
    created_at: datetime | None = None  # the delivery's (its latency is counted from it)


@dataclass
class Sent:
    out: OutgoingDelivery
    at: datetime
    headers: dict
    result: SendResult | None  # None: not sent (its subscription answered 410 meanwhile)


def load_outgoing(ids: list[int], now: datetime) -> list[OutgoingDelivery]:
    """What the claimed deliveries need to be sent: the event's columns row by row, each
    subscription (its secrets decrypted, its headers parsed) once."""
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.manual, WebhookDelivery.subscription_id, OutboundEvent.msg_id,
               OutboundEvent.type, OutboundEvent.created_at, OutboundEvent.data, OutboundEvent.request_id,
               WebhookDelivery.created_at)
        .join(OutboundEvent, OutboundEvent.id == WebhookDelivery.outbound_event_id)
        .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)).all()
    subs = {sub.id: (sub, sub.signing_secrets(now), sub.custom_headers) for sub in db.session.execute(
        select(WebhookSubscription).where(WebhookSubscription.id.in_({row.subscription_id for row in rows})))
        .scalars()}
    outgoing = []
    for delivery_id, manual, sub_id, msg_id, kind, created_at, data, request_id, queued_at in rows:
        if sub_id not in subs:  # deleted with its subscription meanwhile
            continue
        sub, secrets, headers = subs[sub_id]
        outgoing.append(OutgoingDelivery(
            sub.org_id, delivery_id, sub.id, bool(manual), sub.url, secrets, msg_id,
            signing.body_for(sub.signature, msg_id, kind, created_at, data), request_id, headers,
            sub.rate_limit, sub.signature, queued_at))
    db.session.rollback()  # end the read transaction before the network calls
    return outgoing


def send_claim(claim: work.Claim) -> None:
    """The lane's handler: send every claimed delivery, recording outcomes as it goes (the
    claim spans organisations: every statement here names its rows by id)."""
    with tenancy.everywhere():
        _send_claim(claim)


def _send_claim(claim: work.Claim) -> None:
    cfg = current_app.config
    timeout = float(cfg.get("VANI_DELIVERY_TIMEOUT_SECONDS", 15))
    policy = egress.Policy.from_config(cfg).for_destination()
    outgoing = load_outgoing(claim.ids, claim.taken_at)
    claim.notes.update((out.delivery_id, (out.org_id, out.created_at)) for out in outgoing)  # for count_settled
    gone: set[int] = set()
    waiting: set[int] = set()  # subscriptions at their rate limit for this second
    deferred: list[int] = []
    begun: dict[int, tuple[datetime, dict]] = {}  # delivery → when it was begun, the headers the log keeps
    pending: list[Sent] = []
    started = last_write = time.monotonic()
    budget = float(cfg.get("VANI_DRAIN_SECONDS", 60))

    def between() -> bool:
        """Renew the lease, write what came back every few sends; False once the job's time is
        up (slow receivers) or the worker is stopping: the rest goes to the next job."""
        nonlocal pending, last_write
        claim.renew()
        if len(pending) >= RECORD_EVERY or (pending and time.monotonic() - last_write > RECORD_SECONDS):
            record(claim, pending)
            pending, last_write = [], time.monotonic()
        return time.monotonic() - started <= budget and not stopping.requested()

    def begin(out: OutgoingDelivery):
        at = claim.taken_at + timedelta(seconds=time.monotonic() - started)  # the claim's clock
        if out.subscription_id in gone:
            pending.append(Sent(out, at, {}, None))
            return None
        if out.subscription_id in waiting or not limits.take(out.subscription_id, out.rate_limit):
            waiting.add(out.subscription_id)  # its later deliveries wait behind it (order kept)
            deferred.append(out.delivery_id)
            return None
        wall = utcnow()  # receivers check webhook-timestamp against their own clock
        signed = signing.headers_for(out.scheme, out.secrets, out.msg_id, wall, out.body)
        own = {name.lower() for name in signed}
        headers = {**{k: v for k, v in out.headers.items() if k.lower() not in own}, **signed}
        begun[out.delivery_id] = (at, {**shaping.masked(out.headers), **signed})  # what the attempt log keeps
        return functools.partial(post, out.url, out.body.encode(), headers, timeout, policy)

    def finish(out: OutgoingDelivery, call: Future) -> None:
        at, headers = begun.pop(out.delivery_id)
        try:
            result = call.result()
        except Exception as exc:  # ``post`` reports network trouble in its result: this is a bug
            log.exception("delivery %s: the send failed", out.delivery_id)
            result = SendResult(None, None, f"{type(exc).__name__}: {exc}", 0)
        if log.isEnabledFor(logging.DEBUG if result.success else logging.INFO):
            # A delivered one at DEBUG (its attempt is on the delivery's page); a failure at INFO.
            with tracing.bound(out.request_id):
                log.log(logging.DEBUG if result.success else logging.INFO,
                        "delivery %s (%s) to subscription %s: %s in %d ms", out.delivery_id, out.msg_id,
                        out.subscription_id, result.status_code or result.error, result.duration_ms)
        if result.status_code == GONE:
            gone.add(out.subscription_id)  # later sends to it in this claim are not made
        pending.append(Sent(out, at, headers, result))

    left = inflight.run(outgoing, key=lambda out: out.subscription_id, begin=begin, finish=finish,
                        between=between, per_key=inflight.per_subscription(cfg), submit=aio.submit)
    record(claim, pending)
    if left:
        claim.release([out.delivery_id for out in left])
    if deferred:
        claim.release(deferred, limits.next_window())
    loaded = {o.delivery_id for o in outgoing}
    missing = [i for i in claim.unsettled if i not in loaded]
    if missing:  # deleted with their subscription since the claim
        claim.write([(i, DeliveryStatus.CANCELLED, {"next_attempt_at": None}) for i in missing])
        db.session.commit()


def record(claim: work.Claim, sent: list[Sent]) -> None:
    """Write states, attempts and subscription health for ``sent`` and commit. The states go
    first, fenced by the claim's token: what they did not write (the row is another worker's
    now) gets no attempt either."""
    if not sent:
        return
    outcomes = []
    for s in sent:
        delivery_id, r = s.out.delivery_id, s.result
        if r is None:
            outcomes.append((delivery_id, DeliveryStatus.CANCELLED, {  # not attempted after all
                "next_attempt_at": None, "last_error": GONE_SKIP, "manual": False,
                "attempts": claim.attempts[delivery_id] - 1}))
            continue
        common = {"last_attempt_at": s.at, "last_status_code": r.status_code, "manual": False}
        if r.success:
            outcomes.append((delivery_id, DeliveryStatus.DELIVERED,
                             {**common, "next_attempt_at": None, "last_error": None, "delivered_at": s.at}))
        elif r.status_code == GONE:
            outcomes.append((delivery_id, DeliveryStatus.FAILED,
                             {**common, "next_attempt_at": None, "last_error": r.error}))
        else:
            retry_after = r.retry_after if r.status_code in RETRY_AFTER_STATUSES else None
            at_end = s.at + timedelta(milliseconds=r.duration_ms)
            status, columns = claim.failure(delivery_id, r.error or "the attempt failed", retry_after, at_end)
            outcomes.append((delivery_id, status, {**common, **columns}))
    written = claim.write(outcomes)
    try:
        _record_written(claim, [s for s in sent if written[s.out.delivery_id]])
    except Exception:  # nothing of it is stored: the rows are the claim's to fail, as if never written
        for delivery_id, ok in written.items():
            if ok:
                claim.settled.pop(delivery_id, None)
        raise


def _record_written(claim: work.Claim, mine: list[Sent]) -> None:
    """The attempts, metrics, health and live updates of outcomes just written; commits."""
    attempts = [dict(org_id=s.out.org_id, delivery_id=s.out.delivery_id, number=claim.attempts[s.out.delivery_id],
                     trigger=AttemptTrigger.MANUAL if s.out.manual else AttemptTrigger.SCHEDULED,
                     url=s.out.url, request_headers=s.headers, status_code=s.result.status_code,
                     response_body=s.result.response_body, duration_ms=s.result.duration_ms, error=s.result.error,
                     success=s.result.success, created_at=s.at) for s in mine if s.result is not None]
    if attempts:
        db.session.execute(insert(DeliveryAttempt.__table__), attempts)
    for s in mine:
        if s.result is not None:
            metrics.delivery_attempt(s.out.subscription_id, s.result.success, s.result.duration_ms / 1000)
    health.apply([(s.out.subscription_id, s.at, s.result) for s in mine if s.result is not None])
    for s in mine:
        effects.publish(s.out.org_id, f"delivery:{s.out.delivery_id}")
    db.session.commit()  # then the alerts it raised are sent


def record_lost(ids: list[int], now: datetime) -> None:
    """The takeover's hook: an attempt row for each delivery whose worker died mid-send."""
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.org_id, WebhookDelivery.attempts, WebhookSubscription.url)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_(ids)).execution_options(unscoped=True)).all()
    if rows:
        db.session.execute(insert(DeliveryAttempt.__table__), [dict(
            org_id=o, delivery_id=i, number=n, trigger=AttemptTrigger.LOST, url=url, request_headers={},
            status_code=None, response_body=None, duration_ms=0, error=work.claims.LOST, success=False,
            created_at=now) for i, o, n, url in rows])


def _claimable(t):
    """Deliveries of paused subscriptions wait (and keep their order) until it resumes. For an
    ordered subscription, a delivery waits while an earlier one for its prospect is pending or
    being sent (one per prospect at a time, so a claim never holds two of them)."""
    subs = WebhookSubscription.__table__  # a table, not the model: claims span organisations
    live = t.c.subscription_id.in_(select(subs.c.id).where(subs.c.active.is_(True), subs.c.paused_at.is_(None)))
    earlier = t.alias("earlier")
    waiting = exists().where(earlier.c.subscription_id == t.c.subscription_id,
                             earlier.c.ordering_key == t.c.ordering_key,
                             earlier.c.outbound_event_id < t.c.outbound_event_id,
                             earlier.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)))
    held = and_(t.c.ordering_key.isnot(None),
                t.c.subscription_id.in_(select(subs.c.id).where(subs.c.ordered.is_(True))), waiting)
    return and_(live, not_(held))


def count_settled(claim: work.Claim, written: list[tuple[int, DeliveryStatus]]) -> None:
    """The lane's ``on_settle``: each outcome per hour (a retry is a failed attempt), and the time
    from a delivery's creation to its delivery."""
    now, states, tally = utcnow(), dict(written), rollups.Tally()
    rows = [(i, *claim.notes[i]) for i in states if i in claim.notes]  # read when the claim was loaded
    unknown = [i for i in states if i not in claim.notes]  # a takeover's
    if unknown:
        rows += db.session.execute(select(WebhookDelivery.id, WebhookDelivery.org_id, WebhookDelivery.created_at)
                                   .where(WebhookDelivery.id.in_(unknown)).execution_options(unscoped=True)).all()
    for delivery_id, org_id, created_at in rows:
        status = states[delivery_id]
        tally.count(org_id, now, RollupMetric.DELIVERIES, "retrying" if status == DeliveryStatus.PENDING else status)
        if status == DeliveryStatus.DELIVERED:
            tally.observe(org_id, now, RollupMetric.DELIVERY_LATENCY, (now - as_utc(created_at)).total_seconds())
    rollups.add(tally)


DELIVERIES = work.Lane(
    name="deliveries", model=WebhookDelivery,
    ready=(DeliveryStatus.PENDING,), running=DeliveryStatus.DELIVERING,
    retry=DeliveryStatus.PENDING, dead=DeliveryStatus.FAILED,
    handler=send_claim, policy=policy, lease=lease,
    batch=lambda cfg: cfg.get("VANI_DELIVERY_BATCH", 500), parallel=4,
    on_lost=record_lost, claimable=_claimable, on_settle=count_settled,
)


__all__ = ["DELIVERIES", "SendResult", "post"]
