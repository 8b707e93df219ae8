"""Calendly sync: pull scheduled events and their invitees from Calendly's API and feed them through
the webhook path, so missed webhooks are repaired and nothing is duplicated.

Each invitee becomes the body Calendly's webhook would have carried (``invitee.created``; plus
``invitee.canceled`` and ``invitee_no_show.created`` when they apply), stored as a verified
``WebhookEvent`` with the dedupe key the webhook parser gives it, then mapped by the same mapper.
An invitee whose event of that type is already stored (from a webhook or an earlier sync) is
skipped, whatever that event's exact key.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import select

from vani import plugins, tenancy, work
from vani.extensions import db, redis_ext
from vani.models import EventStatus, WebhookEvent
from vani.models.base import utcnow
from vani.models.dbutil import insert_ignore
from vani.orgs.provider_settings import config_for
from vani.payloads.coerce import as_time as parse_time
from vani.plugins.contract import RequestData
from vani.processing.events import EVENTS
from vani.providers.calendly.registrar import calendly_client, current_user, paginate, uuid_of
from vani.registration.http import ApiClient, ApiError

log = logging.getLogger(__name__)

LAST_SYNC_KEY = "vani:calendly:last_sync:{org_id}"
DEFAULT_DAYS = 30
PAGE_SIZE = 100
SYNC_HEADERS = {"X-Vani-Source": "calendly-sync"}


@dataclass
class SyncResult:
    since: str
    scheduled_events: int = 0
    invitees: int = 0
    stored: int = 0
    already_known: int = 0
    processed: int = 0
    failed: int = 0
    finished_at: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def calendly_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def webhook_time(value: str | None) -> str | None:
    """A delivery's top-level ``created_at``: Calendly sends the moment to whole seconds."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.000000Z") if parsed else value


def parse_since(value: str | None) -> datetime | None:
    """Where a sync starts, as a user writes it: ``YYYY-MM-DD`` or an ISO 8601 time (UTC when
    no zone is given); None when empty."""
    if not value:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time")
    return parsed


def scheduled_events(client: ApiClient, me: dict, since: datetime) -> list[dict]:
    """Scheduled events starting at or after ``since``: the whole organization when the token
    may see it, else the token's user."""
    params = {"organization": me["current_organization"], "min_start_time": calendly_time(since),
              "count": PAGE_SIZE, "sort": "start_time:asc"}
    try:
        return paginate(client, "/scheduled_events", params)
    except ApiError as exc:
        if exc.status != 403:
            raise
        params = {**params, "user": me["uri"]}
        params.pop("organization")
        return paginate(client, "/scheduled_events", params)


def bodies_for(invitee: dict, event: dict, created_by: str) -> list[dict]:
    """The webhook bodies that describe this invitee's history, oldest first."""
    bodies = []
    created = copy.deepcopy({**invitee, "scheduled_event": event})
    if invitee.get("status") == "canceled":  # as it looked when it was booked
        created.update(status="active", cancellation=None)
        created["scheduled_event"] = {**{k: v for k, v in event.items() if k != "cancellation"}, "status": "active"}
    bodies.append({"created_at": webhook_time(invitee.get("created_at")), "created_by": created_by,
                   "event": "invitee.created", "payload": created})
    no_show = invitee.get("no_show")
    if isinstance(no_show, dict) and no_show.get("uri"):
        bodies.append({"created_at": webhook_time(no_show.get("created_at")), "created_by": created_by,
                       "event": "invitee_no_show.created",
                       "payload": {"uri": no_show["uri"], "invitee": invitee.get("uri"),
                                   "created_at": no_show.get("created_at")}})
    if invitee.get("status") == "canceled":
        cancellation = invitee.get("cancellation") or {}
        when = cancellation.get("created_at") or invitee.get("updated_at")
        bodies.append({"created_at": webhook_time(when), "created_by": created_by, "event": "invitee.canceled",
                       "payload": copy.deepcopy({**invitee, "scheduled_event": event})})
    return bodies


def already_stored(event_type: str, subject_uri: str) -> bool:
    """True when an event of this type about this resource is stored, whatever its exact key."""
    stmt = select(WebhookEvent.id).where(
        WebhookEvent.provider == "calendly",
        WebhookEvent.dedupe_key.startswith(f"{event_type}:{subject_uri}:", autoescape=True)).limit(1)
    return db.session.execute(stmt).first() is not None


def store(body: dict) -> int | None:
    """Store one synthesised delivery like the webhook path would; None when already known."""
    provider = plugins.installed().get("calendly")
    raw = json.dumps(body, separators=(",", ":")).encode()
    item = provider.parse(RequestData(body=raw, headers={}, url=""))[0]
    subject = (body.get("payload") or {}).get("uri") or ""
    if subject and already_stored(item.event_type, subject):
        return None
    now = utcnow()
    values = dict(org_id=tenancy.require(), provider="calendly", event_type=item.event_type[:120], dedupe_key=item.dedupe_key[:255],
                  verified=True, status=EventStatus.RECEIVED, body=item.body, headers=dict(SYNC_HEADERS),
                  payload=item.payload, remote_addr=None, received_at=now, next_attempt_at=now, attempts=0)
    new_id = db.session.execute(insert_ignore(WebhookEvent, values, ["org_id", "provider", "dedupe_key"])).scalar()
    db.session.commit()
    return new_id


def sync(since: datetime | None = None, sleep: Callable[[float], None] = time.sleep,
         client: ApiClient | None = None, progress: Callable[[str, int, int], None] | None = None) -> SyncResult:
    """Pull, store and map. Raises ``ApiError`` with a clear message when Calendly refuses.
    ``progress(step, done, total)`` is told after each scheduled event, and around the mapping."""
    cfg = config_for(tenancy.require())
    if not cfg.get("CALENDLY_API_TOKEN"):
        raise ApiError("CALENDLY_API_TOKEN is not set: create a personal access token in Calendly "
                       "(Integrations > API & Webhooks) and set it")
    since = since or utcnow() - timedelta(days=DEFAULT_DAYS)
    client = client or calendly_client(cfg, sleep)
    me = current_user(client)
    result = SyncResult(since=calendly_time(since))
    new_ids: list[int] = []
    events = scheduled_events(client, me, since)
    for finished, event in enumerate(events):
        result.scheduled_events += 1
        if progress:
            progress("scheduled events", finished, len(events))
        if not event.get("uri"):
            continue
        invitees = paginate(client, f"/scheduled_events/{uuid_of(event['uri'])}/invitees", {"count": PAGE_SIZE})
        for invitee in invitees:
            result.invitees += 1
            for body in bodies_for(invitee, event, me["uri"]):
                event_id = store(body)
                if event_id is None:
                    result.already_known += 1
                else:
                    result.stored += 1
                    new_ids.append(event_id)
    if progress:
        progress("scheduled events", len(events), len(events))
    if new_ids:  # mapped here and now, oldest history first: created, no-show, canceled
        if progress:
            progress("mapping new events", 0, len(new_ids))
        work.run_inline(EVENTS, new_ids)
        if progress:
            progress("mapping new events", len(new_ids), len(new_ids))
        statuses = db.session.execute(select(WebhookEvent.status).where(WebhookEvent.id.in_(new_ids))).scalars()
        for status in statuses:
            if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
                result.processed += 1
            else:
                result.failed += 1
    result.finished_at = calendly_time(utcnow())
    remember(result)
    return result


def remember(result: SyncResult) -> None:
    try:
        redis_ext.client.set(LAST_SYNC_KEY.format(org_id=tenancy.require()), json.dumps(result.to_dict()))
    except RedisError as exc:
        log.warning("could not record the Calendly sync result in Redis: %s", exc)


def last_sync() -> dict | None:
    try:
        raw = redis_ext.client.get(LAST_SYNC_KEY.format(org_id=tenancy.require()))
    except RedisError:
        return None
    return json.loads(raw) if raw else None
