"""Storing inbound webhook calls: verify, parse, dedupe, store, hand over (the fast path).

``store_events`` is all a request does with a provider's call; mapping it to prospects and
meetings is the workers' job. Refused calls are kept, bounded, for debugging (``refusals.record``).
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.exc import DBAPIError

from vani import tracing, work
from vani.dashboard import live
from vani.extensions import db
from vani.ingest.group_commit import Slot, committer
from vani.models import EventStatus
from vani.models.base import utcnow
from vani.orgs.secrets import secrets_for, unreadable_secrets
from vani.payloads.safejson import clean_text
from vani.plugins.contract import BadPayload, Incoming, Provider, RequestData, SignatureError
from vani.work.wake import kick_all

log = logging.getLogger(__name__)

DEDUPE_KEY_MAX = 255


class Refused(Exception):
    """The call is not stored: ``status`` and ``reason`` are the answer, ``detail`` says why."""

    def __init__(self, status: int, reason: str, detail: str | None = None, checked_url: str | None = None):
        super().__init__(detail or reason)
        self.status, self.reason, self.detail, self.checked_url = status, reason, detail, checked_url


class Unavailable(Exception):
    """The database could not store the call: the provider should retry (503)."""


@dataclass
class Stored:
    event_ids: list[int]  # the called organisation's (the answer names no other organisation's)
    fresh: list[int]  # every newly stored event, whichever organisation it went to
    queued: bool = True
    extra: dict = field(default_factory=dict)  # said in the answer (unverified, not queued)

    @property
    def status(self) -> str:
        return "accepted" if self.fresh else "duplicate"


def dedupe_key(key: str) -> str:
    """A key that fits its column: a long one keeps a prefix and the hash of the whole."""
    key = clean_text(key)
    if len(key) <= DEDUPE_KEY_MAX:
        return key
    return f"{key[:DEDUPE_KEY_MAX - 72]}#sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def verify(provider: Provider, data: RequestData, secrets: list[str], org_id: int) -> None:
    """Verify with the known secrets; on a mismatch, once more with freshly loaded stored ones
    (``webhooks register`` may have just stored a new secret another process still caches)."""
    tolerance = current_app.config["VANI_SIGNATURE_TOLERANCE_SECONDS"]
    try:
        provider.verify(data, secrets, time.time(), tolerance)
    except SignatureError as exc:
        if exc.reason != "invalid_signature":
            raise
        try:
            fresh = secrets_for(provider, org_id, fresh=True)
        except DBAPIError:
            fresh = secrets
        finally:
            db.session.rollback()
        if fresh == secrets:
            raise
        provider.verify(data, fresh, time.time(), tolerance)


def _secrets(provider: Provider, org_id: int) -> tuple[list[str], list[str]]:
    """The secrets that may have signed the call, and the names of stored ones no key can read."""
    try:
        return secrets_for(provider, org_id), [u.name for u in unreadable_secrets(provider.name, org_id)]
    except DBAPIError as exc:
        db.session.rollback()
        log.error("database unavailable while loading %s secrets: %s", provider.name, exc)
        raise Unavailable() from None
    finally:
        # Hand the connection back now: a request must not hold one while it waits for the
        # group commit, or a burst larger than the pool deadlocks the writer.
        if db.session.registry.has():
            db.session.rollback()


def authenticate(provider: Provider, data: RequestData, org_id: int) -> dict:
    """Check the call's signature; what to add to the answer (nothing, or the unverified warning).
    While a stored secret cannot be decrypted, a call no readable secret verifies is answered
    ``503 secret_unreadable`` (not stored; the provider retries), as it may be signed with it."""
    secrets, unreadable = _secrets(provider, org_id)
    names = " or ".join(provider.secret_settings)
    cannot_read = Refused(503, "secret_unreadable", f"the stored {provider.name} {' and '.join(unreadable)} "
                          "cannot be decrypted; the call was not stored, retry later")
    if secrets or provider.verifies_without_secrets():
        try:
            verify(provider, data, secrets, org_id)
        except SignatureError as exc:
            if exc.reason == "invalid_signature" and unreadable:
                raise cannot_read from None
            raise Refused(401, exc.reason, exc.detail, exc.checked_url) from None
        return {}
    if unreadable:
        raise cannot_read
    if current_app.config.get("ENV_NAME") == "production":
        raise Refused(503, "secret_not_configured", f"{names} is not set; refusing unverifiable calls in production")
    log.warning("%s is not set: accepting %s webhook UNVERIFIED", names, provider.title)
    return {"verified": False, "warning": f"{names} is not set; event stored unverified"}


def parse(provider: Provider, data: RequestData) -> list[Incoming]:
    try:
        items = provider.parse(data)
    except BadPayload as exc:
        raise Refused(400, exc.reason, exc.detail) from None
    except RecursionError:
        raise Refused(400, "invalid_json", "the body is nested too deeply") from None
    if not items:
        raise Refused(400, "no_events", "the body holds no events")
    return items


def event_rows(provider: Provider, items: list[Incoming], verified: bool, headers: dict,
               address: str | None, org_id: int) -> list[dict]:
    now, request_id = utcnow(), tracing.current()  # named here: the group commit's thread has no request
    return [dict(
        org_id=item.org_id or org_id, provider=provider.name, event_type=clean_text(item.event_type)[:120],
        dedupe_key=dedupe_key(item.dedupe_key),
        verified=verified, status=EventStatus.RECEIVED.value, body=item.body, headers=headers, payload=item.payload,
        remote_addr=address, received_at=now, next_attempt_at=now, attempts=0, request_id=request_id)
        for item in items]


def live_messages(slot: Slot) -> list[tuple[int, str]]:
    """The dashboard updates a stored call makes: its newest fresh event, per organisation."""
    return [(owner, f"event:{event_id}") for owner, event_id in dict(slot.fresh).items()]


def hand_over(group: list[Slot]) -> bool:
    """Wake the event workers for a group's freshly stored events and tell the dashboards, in one
    Redis round trip for the whole group (False: Redis is down; the sweep will wake them).
    The group commit wrote them on its own connection, so this is a plain kick."""
    messages = [message for slot in group for message in live_messages(slot)]
    return kick_all([work.get("events")], also=lambda pipe: live.add_to(pipe, messages))


def store_events(provider: Provider, data: RequestData, org_id: int) -> Stored:
    """Verify, parse and store a provider's call for organisation ``org_id``. Raises ``Refused``
    or ``Unavailable``."""
    extra = authenticate(provider, data, org_id)
    items = parse(provider, data)
    wanted = {h.lower() for h in provider.relevant_headers} | {"content-type", "user-agent"}
    headers = {k: v[:512].replace("\x00", "") for k, v in data.headers.items() if k.lower() in wanted}
    rows = event_rows(provider, items, "warning" not in extra, headers, data.remote_addr, org_id)
    slot = committer().submit(rows, hand_over)
    if slot.error is not None:
        # Whatever the database refused, the provider should try again later: never a 500.
        log.error("could not store %s event, asking the provider to retry: %r", provider.name, slot.error)
        raise Unavailable()
    fresh = [event_id for event_id, new in slot.results if new]
    if fresh and not slot.pushed:
        extra["queued"] = False  # stored; the sweep will hand it to a worker
    # The answer names the called organisation's events only: a push that also reached other
    # organisations (see ``Incoming.org_id``) must not tell the caller their ids.
    mine = [event_id for row, (event_id, _) in zip(rows, slot.results) if row["org_id"] == org_id]
    return Stored(mine, fresh, slot.pushed, extra)
