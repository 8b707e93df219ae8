"""The ``message_sends`` lane: replies and read receipts, sent through the conversation's provider.

A send is committed as started just before the provider is called; a worker that dies after
that point may have sent it, so the takeover makes it a dead letter instead of sending twice.
Each call is recorded as an attempt. 5xx, 429 (after its ``Retry-After``) and timeouts are
tried again by the policy; other 4xx are final. A reply that fails for good turns its message
red, raises a notification and tells subscribers; one that goes out becomes ``sent`` with the
provider's id, merged with any status webhook that arrived before the call returned.

Sends of different conversations are in flight at once (``work.in_flight``), one at a time per
conversation so its replies keep their order: a reply is not claimed while an earlier one of its
conversation waits or is to be retried, or another is being sent, by any worker (``_in_order``);
a provider's Retry-After is heeded up to the schedule's longest wait (at least five minutes), so
no reply holds the ones behind it for a day. The database is read and written in the claiming
thread only; the provider call runs on a send thread with what it needs already read.
"""
from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, literal_column, not_, or_, select, update
from sqlalchemy import inspect as sa_inspect

from vani import plugins, tenancy, work
from vani.conversations import outgoing, timeline
from vani.extensions import db
from vani.models import Conversation, Message
from vani.models.base import utcnow
from vani.models.replies import MessageSend, OutgoingStatus, SendAttempt, SendKind
from vani.orgs import provider_settings
from vani.plugins import messaging
from vani.plugins.messaging import Accepted, SendError

log = logging.getLogger(__name__)

SCHEDULE = "10s,30s,2m,10m,30m"  # waits between tries (the last repeats) until VANI_SEND_MAX_ATTEMPTS
RETRY_AFTER_FLOOR = timedelta(minutes=5)  # a provider's Retry-After is heeded at least this far


def policy(cfg: Mapping) -> work.RetryPolicy:
    attempts = max(int(cfg.get("VANI_SEND_MAX_ATTEMPTS", 6)), 1)
    try:  # an unreadable schedule is reported by check-config (and stops production at start-up)
        steps = work.parse_schedule(cfg.get("VANI_SEND_RETRY_SCHEDULE") or SCHEDULE) or work.parse_schedule(SCHEDULE)
    except ValueError:
        steps = work.parse_schedule(SCHEDULE)
    waits = tuple(steps[min(i, len(steps) - 1)] for i in range(attempts - 1))
    # A provider's Retry-After is heeded up to the schedule's longest wait (at least
    # RETRY_AFTER_FLOOR): the conversation's later replies wait behind this one (``_in_order``),
    # so it must not hold them for a day, nor be tried again sooner than the provider can take.
    cap = max(max(steps), RETRY_AFTER_FLOOR)
    return work.RetryPolicy(waits, jitter=0.1 if cfg.get("VANI_RETRY_JITTER", True) else 0.0, retry_after_cap=cap)


def lease(cfg: Mapping) -> timedelta:
    return timedelta(seconds=messaging.timeout(cfg) + 20)


def _messenger(conv: Conversation) -> messaging.Messenger:
    try:
        messenger = plugins.installed().get(conv.provider).messenger
    except KeyError:
        messenger = None
    if messenger is None:
        raise SendError(f"Vani cannot send through {conv.provider}", retry=False, code="unsupported")
    return messenger


def _call(send: MessageSend, conv: Conversation, message: Message, cfg: Mapping) -> Callable[[], Accepted]:
    """The one call to the conversation's provider (its messenger) this send makes, ready to run
    on a send thread: the conversation as a copy bound to no session, the settings with what the
    messenger reads from the database (``Messenger.settings``) already in them."""
    messenger = _messenger(conv)
    if send.kind == SendKind.READ:
        return functools.partial(messenger.mark_read, _detached(conv), message.provider_message_id,
                                 messenger.settings(conv, cfg))
    if conv.phone is None:
        raise SendError("the conversation has no customer phone number", retry=False, code="no_phone")
    if send.kind == SendKind.TEXT and message.origin != "auto" and not outgoing.window_open(conv.id):
        raise SendError("the 24-hour window closed before it could be sent: send a template", retry=False,
                        code="outside_service_window")
    return functools.partial(messenger.send, _detached(conv), copy.deepcopy(send.payload),
                             messenger.settings(conv, cfg))


def _detached(conv: Conversation) -> Conversation:
    """A copy of the conversation's columns in no session: a send thread reads it safely while
    the claiming thread commits."""
    return Conversation(**{attr.key: getattr(conv, attr.key) for attr in sa_inspect(Conversation).column_attrs})


def _started(claim: work.Claim, send_id: int) -> bool:
    claim.renew(force=True)  # a full lease for the call ahead
    done = db.session.execute(update(MessageSend).where(
        MessageSend.id == send_id, MessageSend.lease_token == claim.token,
        MessageSend.status == OutgoingStatus.SENDING).values(send_started_at=utcnow())).rowcount
    db.session.commit()  # from here on, a crash may have sent it: never sent again automatically
    return bool(done)


def _attempt(send: MessageSend, attempts: int, started: float, outcome: str, error: SendError | None = None,
             status: int | None = None) -> None:
    db.session.add(SendAttempt(
        org_id=send.org_id, send_id=send.id, attempt=attempts, outcome=outcome,
        http_status=error.http_status if error else status, error_code=error.code if error else None,
        error_message=error.message[:2000] if error else None,
        duration_ms=int((utcnow().timestamp() - started) * 1000)))


def prepare(claim: work.Claim, send_id: int):
    """Ready one claimed send (its organisation in force): commit it as started, then check it
    and return the provider call with the time it began; a send settled here returns None."""
    send = db.session.get(MessageSend, send_id, populate_existing=True)
    if send is None:
        return None
    conv = db.session.get(Conversation, send.conversation_id)
    message = db.session.get(Message, send.message_id) if send.message_id else None
    cfg = provider_settings.config_for(send.org_id)
    if conv is None or message is None:
        claim.write([(send_id, OutgoingStatus.DEAD, {"last_error": "its conversation or message is gone",
                                                     "next_attempt_at": None})])
        db.session.commit()
        return None
    if not _started(claim, send_id):
        claim.settled[send_id] = None
        return None
    started = utcnow().timestamp()
    try:
        return _call(send, conv, message, cfg), started
    except Exception as exc:  # refused before the call: nothing went out
        error = exc if isinstance(exc, SendError) else SendError(f"{type(exc).__name__}: {exc}"[:300], retry=True)
        if not isinstance(exc, SendError):
            log.exception("message send %s could not be prepared", send_id)
        _failed(claim, send, conv, message, error, started)
    timeline.changed(conv)
    db.session.commit()
    return None


def record(claim: work.Claim, send_id: int, started: float, call: Future) -> None:
    """Record what the provider answered (fenced by the claim) and commit."""
    send = db.session.get(MessageSend, send_id)
    conv = db.session.get(Conversation, send.conversation_id)
    message = db.session.get(Message, send.message_id)
    try:
        accepted = call.result()
    except SendError as error:
        _failed(claim, send, conv, message, error, started)
    except Exception as exc:  # after the call began, an unknown failure may hide a send: never retried
        log.error("message send %s crashed during the provider call", send_id, exc_info=exc)
        _failed(claim, send, conv, message, SendError(
            f"{type(exc).__name__}: {exc}"[:300] + " (it may have gone out)", retry=False, code=timeline.UNKNOWN),
            started)
    else:
        _succeeded(claim, send, conv, message, accepted, started)
    timeline.changed(conv)
    db.session.commit()


def _succeeded(claim, send, conv, message, accepted: Accepted, started: float) -> None:
    """Record the send as sent first (committed): whatever fails after, it is never sent again."""
    now = utcnow()
    _attempt(send, claim.attempts[send.id], started, "sent", status=accepted.http_status)
    if not claim.done(send.id, OutgoingStatus.SENT, sent_at=now, last_error=None, error_code=None,
                      next_attempt_at=None, send_started_at=None):
        # The lease ran out mid-call and the takeover called it "may have gone out": it did.
        db.session.execute(update(MessageSend).where(
            MessageSend.id == send.id, MessageSend.status == OutgoingStatus.DEAD).values(
            status=OutgoingStatus.SENT, sent_at=now, last_error=None, error_code=None, send_started_at=None))
    db.session.commit()
    if send.kind == SendKind.READ:
        return
    try:
        timeline.sent(conv, message, accepted.provider_message_id, now)
    except Exception:  # the send is recorded; the message falls back to a plain "sent"
        log.exception("message %s was sent as %s, but updating its conversation failed",
                      message.id, accepted.provider_message_id)
        db.session.rollback()  # and with it what the update would have woken
        timeline.mark_sent(message.id, now)


def _failed(claim, send, conv, message, error: SendError, started: float) -> None:
    attempts = claim.attempts[send.id]
    _attempt(send, attempts, started, "retry" if error.retry else "refused", error)
    if error.retry:
        status, columns = claim.failure(send.id, error.message, error.retry_after)
    else:
        status, columns = OutgoingStatus.DEAD, {"next_attempt_at": None, "last_error": error.message[:2000]}
    written = claim.write([(send.id, status, {**columns, "error_code": error.code, "send_started_at": None})])
    if written.get(send.id) and status == OutgoingStatus.DEAD and send.kind != SendKind.READ:
        timeline.failed(conv, message, error.code, error.message, utcnow(), round_=_rounds(send.id))


def _rounds(send_id: int) -> int:
    """How many calls this send has made (its attempts survive a retry by hand): keys each failure."""
    db.session.flush()
    return db.session.execute(select(func.count()).select_from(SendAttempt).where(
        SendAttempt.send_id == send_id)).scalar_one()


def lost(ids: list[int], now: datetime) -> None:
    """A takeover made these sends dead letters or due again: a reply that may have gone out
    shows as failed with that reason (retry it by hand if it did not arrive), and the team and
    subscribers are told as for any failed reply."""
    rows = db.session.execute(select(MessageSend.id, MessageSend.org_id, MessageSend.message_id).where(
        MessageSend.id.in_(ids), MessageSend.status == OutgoingStatus.DEAD, MessageSend.kind != SendKind.READ)
        .execution_options(unscoped=True)).all()
    for send_id, org_id, message_id in rows:
        with tenancy.acting_for(org_id):
            message = db.session.get(Message, message_id) if message_id else None
            conv = db.session.get(Conversation, message.conversation_id) if message else None
            if conv is not None:
                timeline.failed(conv, message, timeline.UNKNOWN, "the worker stopped while sending: it may have "
                                "gone out", now, round_=_rounds(send_id))


def _in_order(t):
    """A reply waits while another reply of its conversation is being sent, or an earlier one is
    due or failed and to be tried again, so two workers' claims never send one conversation's
    replies at once or out of order (a dead one retried by hand included). Read receipts neither
    wait nor hold anything up. The states and kinds are written into the SQL, so that the small
    index of open replies (``ix_message_sends_open_replies``) serves every plan."""
    other = t.alias("other")
    replies = [literal_column(f"'{kind.value}'") for kind in (SendKind.TEXT, SendKind.TEMPLATE)]
    sending = literal_column(f"'{OutgoingStatus.SENDING.value}'")
    open_ = [literal_column(f"'{s.value}'") for s in (OutgoingStatus.PENDING, OutgoingStatus.FAILED,
                                                        OutgoingStatus.SENDING)]
    waiting = exists().where(other.c.conversation_id == t.c.conversation_id, other.c.status.in_(open_),
                             other.c.kind.in_(replies), or_(other.c.status == sending, other.c.id < t.c.id))
    return not_(and_(t.c.kind.in_(replies), waiting))


MESSAGE_SENDS = work.Lane(
    name="message_sends", model=MessageSend,
    ready=(OutgoingStatus.PENDING, OutgoingStatus.FAILED), running=OutgoingStatus.SENDING,
    retry=OutgoingStatus.FAILED, dead=OutgoingStatus.DEAD,
    handler=work.in_flight(prepare, record, key=("conversation_id",), per_key=lambda cfg: 1),
    policy=policy, lease=lease, batch=20, parallel=2,
    claim_values=lambda now: {"send_started_at": None}, claimable=_in_order,
    unsure=lambda t: t.c.send_started_at.isnot(None), on_lost=lost,
)
