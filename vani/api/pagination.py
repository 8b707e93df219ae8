"""Keyset pagination over (timestamp, id), newest first, with an opaque cursor."""
from __future__ import annotations

import base64
from datetime import datetime

from flask import request
from sqlalchemy import or_

from vani.models.base import as_utc


class BadRequest(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def encode_cursor(ts: datetime, id_: int) -> str:
    raw = f"{as_utc(ts).isoformat()}|{id_}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, id_ = raw.rsplit("|", 1)
        return datetime.fromisoformat(ts), int(id_)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("cursor", "not a cursor this API returned") from None


def limit_arg(default: int = 50, maximum: int = 200) -> int:
    raw = request.args.get("limit", default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest("limit", "must be a whole number") from None
    if not 1 <= value <= maximum:
        raise BadRequest("limit", f"must be between 1 and {maximum}")
    return value


def keyset(stmt, ts_col, id_col, cursor: str | None, limit: int):
    """Apply newest-first ordering and the cursor; fetch one extra row to know if more exist."""
    if cursor:
        ts, id_ = decode_cursor(cursor)
        stmt = stmt.where(or_(ts_col < ts, (ts_col == ts) & (id_col < id_)))
    return stmt.order_by(ts_col.desc(), id_col.desc()).limit(limit + 1)


def page(rows, limit: int, ts_attr: str):
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(getattr(rows[-1], ts_attr), rows[-1].id) if more and rows else None
    return rows, cursor
