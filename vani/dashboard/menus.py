"""Choices for the filter menus: the distinct values of an indexed column, cached briefly.

On PostgreSQL a recursive "skip scan" reads one index entry per distinct value, so a menu of
event types stays fast over millions of rows; elsewhere a plain ``DISTINCT`` does.
"""
from __future__ import annotations

import time

from sqlalchemy import select, text
from sqlalchemy.orm import InstrumentedAttribute

from vani import tenancy
from vani.extensions import db

CACHE_SECONDS = 60.0
MAX_VALUES = 200

_cache: dict[tuple[str, int, str, str], tuple[float, list[str]]] = {}

_SKIP_SCAN = """
WITH RECURSIVE t(v) AS (
  SELECT min({col}) FROM {table} WHERE org_id = :org
  UNION ALL
  SELECT (SELECT min({col}) FROM {table} WHERE org_id = :org AND {col} > t.v) FROM t WHERE t.v IS NOT NULL
) SELECT v FROM t WHERE v IS NOT NULL LIMIT :limit"""


def distinct_values(column: InstrumentedAttribute, limit: int = MAX_VALUES) -> list[str]:
    """Sorted distinct non-null values of ``column`` in the organisation in force (a model
    attribute with an index on ``(org_id, column)``)."""
    table, name = column.class_.__tablename__, column.key
    org_id = tenancy.require()
    key = (db.engine.url.render_as_string(), org_id, table, name)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    if db.engine.dialect.name == "postgresql":
        # Names come from the model, never from a request.
        stmt = text(_SKIP_SCAN.format(table=table, col=name)).bindparams(limit=limit, org=org_id)
        values = list(db.session.execute(stmt).scalars())
    else:
        values = list(db.session.execute(select(column).where(column.is_not(None)).distinct()  # scoped (ORM)
                                         .order_by(column).limit(limit)).scalars())
    _cache[key] = (now + CACHE_SECONDS, values)
    return values


def forget() -> None:
    """Drop the cache (tests, or after bulk deletes)."""
    _cache.clear()
