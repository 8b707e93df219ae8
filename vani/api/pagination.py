"""Reading the API's query arguments, and one page of a list as JSON (see ``services.paging``)."""
from __future__ import annotations

import re

from flask import abort, jsonify, request

from vani.errors import MAX_ID, InvalidField
from vani.extensions import db
from vani.models.paging import keyset, page


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
        raise InvalidField(name, "must be a whole number")
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
        raise InvalidField("provider", f"must be one of {', '.join(names)}")
    return raw


def limit_arg(default: int = 50, maximum: int = 200) -> int:
    raw = str(request.args.get("limit", default)).strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # ASCII digits only: int() would take "٣" or "1_0"
        raise InvalidField("limit", "must be a whole number")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise InvalidField("limit", f"must be between 1 and {maximum}")
    return value


def paginated_response(stmt, ts_col, id_col, serialize=lambda row: row.to_dict()):
    """The JSON page of ``stmt`` (newest first by ``ts_col``, ``id_col``) with ``next_cursor``,
    honouring ``?limit=`` and ``?cursor=``."""
    limit = limit_arg()
    stmt = keyset(stmt, ts_col, id_col, request.args.get("cursor"), limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), limit, ts_col.key)
    return jsonify({"data": [serialize(row) for row in rows], "next_cursor": cursor})
