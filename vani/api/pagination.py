"""Keyset pagination over (timestamp, id), newest first, with an opaque cursor."""
from __future__ import annotations

import base64
import re
from datetime import datetime

from flask import abort, jsonify, request
from sqlalchemy import tuple_

from vani.extensions import db
from vani.models.base import as_utc

MAX_ID = 2 ** 63 - 1


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
        when, number = datetime.fromisoformat(ts), int(id_)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("cursor", "not a cursor this API returned") from None
    if not 0 <= number <= MAX_ID:
        raise BadRequest("cursor", "not a cursor this API returned")
    return as_utc(when), number


def get_or_404(model, id_: int, what: str):
    """The row with this id, else a JSON 404 (ids beyond a 64-bit integer simply do not exist)."""
    row = db.session.get(model, id_) if 0 <= id_ <= MAX_ID else None
    if row is None:
        abort(404, f"no {what} {id_}")
    return row


def id_arg(name: str) -> int | None:
    """``?<name>=`` as a row id; 400 unless plain ASCII digits. An id beyond 64 bits cannot exist,
    so it becomes -1, which matches no row."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]+", raw):
        raise BadRequest(name, "must be a whole number")
    value = int(raw) if len(raw) <= 19 else MAX_ID + 1
    return value if value <= MAX_ID else -1


def provider_arg() -> str | None:
    """``?provider=``, one of the providers Vani knows; 400 otherwise."""
    from vani.providers.registry import all_providers

    raw = request.args.get("provider")
    if raw is None or raw == "":
        return None
    names = sorted(p.name for p in all_providers())
    if raw not in names:
        raise BadRequest("provider", f"must be one of {', '.join(names)}")
    return raw


def limit_arg(default: int = 50, maximum: int = 200) -> int:
    raw = str(request.args.get("limit", default)).strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # ASCII digits only: int() would take "٣" or "1_0"
        raise BadRequest("limit", "must be a whole number")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise BadRequest("limit", f"must be between 1 and {maximum}")
    return value


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


def paginated_response(stmt, ts_col, id_col, serialize=lambda row: row.to_dict()):
    """The JSON page of ``stmt`` (newest first by ``ts_col``, ``id_col``) with ``next_cursor``,
    honouring ``?limit=`` and ``?cursor=``."""
    limit = limit_arg()
    stmt = keyset(stmt, ts_col, id_col, request.args.get("cursor"), limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), limit, ts_col.key)
    return jsonify({"data": [serialize(row) for row in rows], "next_cursor": cursor})
