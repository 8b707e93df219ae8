"""The outbox: domain events written in the processing transaction, delivered after commit."""
from __future__ import annotations

import uuid

from vani.extensions import db
from vani.models import OutboundEvent
from vani.models.base import utcnow
from vani.services.dbutil import insert_ignore


def new_msg_id() -> str:
    return "msg_" + uuid.uuid4().hex


def emit(type_: str, data: dict, emit_key: str) -> None:
    """Record a domain event once per ``emit_key`` (re-processing emits nothing new)."""
    db.session.execute(insert_ignore(OutboundEvent, dict(
        msg_id=new_msg_id(), type=type_, emit_key=emit_key[:255], data=data, fanned_out=False,
        created_at=utcnow()), ["emit_key"]))
