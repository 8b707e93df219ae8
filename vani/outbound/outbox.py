"""The outbox: domain events, written in the same transaction as the change they describe.

``emit`` records an event on the processing context; the batch writes them all at once
(``write``) and fans them out to subscriptions in that same transaction, so nothing is emitted
without its change, or changed without emitting. An ``emit_key`` makes emission idempotent:
re-processing an inbound event emits nothing new.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from vani.extensions import db
from vani.models import EventType, OutboundEvent
from vani.models.dbutil import dialect_insert
from vani.processing.context import EventContext


def new_msg_id() -> str:
    return "msg_" + uuid.uuid4().hex


def emit(ctx: EventContext, type_: EventType, data: dict, subject: str | int = "") -> None:
    """Emit ``type_`` once per (this event, type, subject)."""
    emit_keyed(ctx, type_, data, ctx.key(type_, subject))


def emit_keyed(ctx: EventContext, type_: EventType, data: dict, emit_key: str) -> None:
    """Emit ``type_`` once per ``emit_key``, whichever event gets there first. Only a catalogue
    type: a new one is added to ``EventType`` (and its payload to the API document)."""
    ctx.outbox.append(dict(type=catalogued(type_), data=data, emit_key=emit_key[:255]))


def catalogued(type_: EventType) -> EventType:
    """``type_``, which must come from the catalogue (what processing emits; custom events from the
    API are fanned out without the outbox's emit)."""
    if not isinstance(type_, EventType):
        raise TypeError(f"outbound events are typed by EventType, not {type_!r}")
    return type_


def write(rows: list[dict], now: datetime) -> list[dict]:
    """Insert a batch's events (each row names its ``org_id``; keys already emitted are skipped);
    the new ones, as dicts with ``id, org_id, msg_id, type, data, created_at``, in emission order."""
    if not rows:
        return []
    t = OutboundEvent.__table__
    stmt = (dialect_insert(t).on_conflict_do_nothing(index_elements=["org_id", "emit_key"])
            .returning(t.c.id, t.c.org_id, t.c.msg_id, t.c.type, t.c.data, t.c.created_at))
    params = [dict(row, msg_id=new_msg_id(), created_at=now) for row in rows]
    inserted = [dict(r._mapping) for r in db.session.execute(stmt, params)]
    return sorted(inserted, key=lambda r: r["id"])
