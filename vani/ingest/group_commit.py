"""Group commit for the ingest path.

Concurrent requests in one process (gunicorn's threaded workers) queue their rows; whichever
request holds the write lock writes every queued row in ONE multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING`` and one commit, then wakes the workers once for
them all. A request whose rows were written by another returns at once. Alone (tests, sync
workers) a request simply writes its own rows: nothing waits on a timer.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select, tuple_

from vani.extensions import db
from vani.models import WebhookEvent
from vani.models.dbutil import dialect_insert

log = logging.getLogger(__name__)


@dataclass
class Slot:
    rows: list[dict]
    results: list[tuple[int, bool]] | None = None
    error: BaseException | None = None
    pushed: bool = True
    done: bool = False


@dataclass
class GroupCommitter:
    _pending: list[Slot] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock)
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, rows: list[dict], push: Callable[[list[int]], bool]) -> Slot:
        """Store ``rows`` (with others queued meanwhile); returns the slot with results or error."""
        slot = Slot(rows)
        with self._mutex:
            self._pending.append(slot)
        with self._write_lock:
            if slot.done:
                return slot
            with self._mutex:  # everything queued so far, ours included
                batch, self._pending = self._pending, []
            self._write(batch, push)
        return slot

    def _write(self, batch: list[Slot], push: Callable[[list[int]], bool]) -> None:
        try:
            results = write_rows([row for slot in batch for row in slot.rows])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            # One refused row must not fail its neighbours: write each request on its own.
            for slot in batch:
                self._write([slot], push)
            return
        fresh = [event_id for event_id, new in results if new]
        try:
            pushed = push(fresh) if fresh else True
        except Exception:  # the rows are stored: the sweeper hands them over; never strand a slot
            log.exception("could not hand %d stored events to the workers", len(fresh))
            pushed = False
        i = 0
        for slot in batch:
            slot.results = results[i:i + len(slot.rows)]
            slot.pushed = pushed
            slot.done = True
            i += len(slot.rows)


_INSERTS: dict[str, object] = {}


def _insert_statement():
    """One compiled-once statement per dialect; rows go in as executemany parameters."""
    dialect = db.engine.dialect.name
    if dialect not in _INSERTS:
        table = WebhookEvent.__table__
        _INSERTS[dialect] = (dialect_insert(table)
                             .on_conflict_do_nothing(index_elements=["org_id", "provider", "dedupe_key"])
                             .returning(table.c.id, table.c.org_id, table.c.provider, table.c.dedupe_key))
    return _INSERTS[dialect]


_JSON_COLUMNS = {"headers", "payload"}


def _pg_insert(conn, rows: list[dict]):
    """The same INSERT as plain SQL with one VALUES tuple per row: on PostgreSQL this skips
    statement compilation, which is most of the cost of a small insert."""
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (f"INSERT INTO webhook_events ({', '.join(columns)}) VALUES {', '.join([one] * len(rows))} "
           "ON CONFLICT (org_id, provider, dedupe_key) DO NOTHING RETURNING id, org_id, provider, dedupe_key")
    params = [Jsonb(row[c]) if c in _JSON_COLUMNS and row[c] is not None else row[c]
              for row in rows for c in columns]
    return conn.exec_driver_sql(sql, tuple(params))


def _autocommit_engine():
    """The app's engine in autocommit mode (same pool), made once: building it costs more than
    the insert it serves."""
    engines = current_app.extensions.setdefault("vani_autocommit_engine", {})
    key = id(db.engine)
    if key not in engines:
        engines[key] = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    return engines[key]


def write_rows(rows: list[dict]) -> list[tuple[int, bool]]:
    """Insert rows, skipping stored (organisation, provider, dedupe_key) keys; (id, newly stored) per row.

    When the same key appears twice in one batch, the first row is the new one."""
    table = WebhookEvent.__table__
    # A bare connection, not the ORM session: this is the hottest path of the app.
    # On PostgreSQL the single INSERT runs in autocommit: one round trip, not BEGIN/INSERT/COMMIT.
    postgres = db.engine.dialect.name == "postgresql"
    engine = _autocommit_engine() if postgres else db.engine
    with engine.begin() as conn:
        returned = _pg_insert(conn, rows) if postgres else conn.execute(_insert_statement(), rows)
        inserted = {(o, p, k): i for i, o, p, k in returned}
        missing = {(r["org_id"], r["provider"], r["dedupe_key"]) for r in rows} - inserted.keys()
        existing = {}
        if missing:
            existing = {(o, p, k): i for i, o, p, k in conn.execute(
                select(table.c.id, table.c.org_id, table.c.provider, table.c.dedupe_key)
                .where(tuple_(table.c.org_id, table.c.provider, table.c.dedupe_key).in_(list(missing))))}
    results, seen = [], set()
    for row in rows:
        key = (row["org_id"], row["provider"], row["dedupe_key"])
        if key in inserted and key not in seen:
            results.append((inserted[key], True))
        else:
            results.append((inserted.get(key) or existing[key], False))
        seen.add(key)
    return results


def committer() -> GroupCommitter:
    """The current app's committer (one per app and process)."""
    return current_app.extensions.setdefault("vani_group_commit", GroupCommitter())
