"""A row named by the path, and one page of a list as JSON (see ``services.paging``)."""
from __future__ import annotations

from flask import abort, jsonify

from vani.api.openapi.parsing import Query
from vani.errors import MAX_ID
from vani.extensions import db
from vani.models.paging import keyset, page


def get_or_404(model, id_: int, what: str):
    """The row with this id, else a JSON 404 (ids beyond a 64-bit integer simply do not exist)."""
    row = db.session.get(model, id_) if 0 <= id_ <= MAX_ID else None
    if row is None:
        abort(404, f"no {what} {id_}")
    return row


def paginated_response(stmt, ts_col, id_col, query: Query, serialize=lambda row: row.to_dict()):
    """The JSON page of ``stmt`` (newest first by ``ts_col``, ``id_col``) with ``next_cursor``:
    ``query.limit`` rows at most, after ``query.cursor``."""
    stmt = keyset(stmt, ts_col, id_col, query.cursor, query.limit)
    rows, cursor = page(list(db.session.execute(stmt).scalars()), query.limit, ts_col.key)
    return jsonify({"data": [serialize(row) for row in rows], "next_cursor": cursor})
