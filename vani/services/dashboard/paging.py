"""One keyset page of a list query, newest first, as every dashboard list reads it."""
from __future__ import annotations

from sqlalchemy import Select

from vani.api.pagination import keyset, page
from vani.extensions import db


def keyset_page(stmt: Select, ts_col, id_col, cursor: str | None, limit: int,
                rows: bool = False) -> tuple[list, str | None]:
    """Up to ``limit`` results of ``stmt`` ordered by (``ts_col``, ``id_col``) descending after
    ``cursor``, and the cursor of the next page (None on the last). ``rows`` keeps whole result
    rows (several columns) instead of the first column's objects."""
    result = db.session.execute(keyset(stmt, ts_col, id_col, cursor, limit))
    return page(list(result if rows else result.scalars()), limit, ts_col.key)
