"""Keyset pagination over (timestamp, id), newest first, with an opaque cursor: one way for the
API and the dashboard lists alike. A cursor is at most ``MAX_CURSOR`` characters, checked before
it is decoded."""
from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import Select, tuple_

from vani.errors import MAX_ID, InvalidField
from vani.extensions import db
from vani.models.base import as_utc

MAX_CURSOR = 200  # what encode_cursor makes is under 80


def encode_cursor(ts: datetime, id_: int) -> str:
    raw = f"{as_utc(ts).isoformat()}|{id_}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    if len(cursor) > MAX_CURSOR:
        raise InvalidField("cursor", "not a cursor this API returned")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, id_ = raw.rsplit("|", 1)
        when, number = datetime.fromisoformat(ts), int(id_)
    except (ValueError, UnicodeDecodeError):
        raise InvalidField("cursor", "not a cursor this API returned") from None
    if not 0 <= number <= MAX_ID:
        raise InvalidField("cursor", "not a cursor this API returned")
    return as_utc(when), number


def keyset(stmt, ts_col, id_col, cursor: str | None, limit: int):
    """Apply newest-first ordering and the cursor; fetch one extra row to know if more exist."""
    if cursor:
        ts, id_ = decode_cursor(cursor)
        # A row-value comparison, so the (timestamp, id) index serves deep pages directly.
        stmt = stmt.where(tuple_(ts_col, id_col) < tuple_(ts, id_))
    return stmt.order_by(ts_col.desc(), id_col.desc()).limit(limit + 1)


def page(rows, limit: int, ts_attr: str):
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(getattr(rows[-1], ts_attr), rows[-1].id) if more and rows else None
    return rows, cursor




def keyset_page(stmt: Select, ts_col, id_col, cursor: str | None, limit: int,
                rows: bool = False) -> tuple[list, str | None]:
    """Up to ``limit`` results of ``stmt`` ordered by (``ts_col``, ``id_col``) descending after
    ``cursor``, and the cursor of the next page (None on the last). ``rows`` keeps whole result
    rows (several columns) instead of the first column's objects."""
    result = db.session.execute(keyset(stmt, ts_col, id_col, cursor, limit))
    return page(list(result if rows else result.scalars()), limit, ts_col.key)
