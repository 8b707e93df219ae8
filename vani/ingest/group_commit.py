"""Group commit for the ingest path.

Concurrent requests in one process (gunicorn's threaded workers) queue their rows; the request
that finds nobody writing writes every queued row in ONE multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING`` and one commit, names the next writer, and hands
its group over to the workers in one go while that next group is written. A request whose rows
another wrote waits for that hand-over and returns. Alone (tests, sync workers) a request simply
writes its own rows: nothing waits on a timer.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, tuple_

from vani.extensions import db
from vani.models import WebhookEvent
from vani.models.dbutil import dialect_insert

log = logging.getLogger(__name__)


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class Slot:
    """One request's rows and, once ``settled``, what became of them."""
    rows: list[dict]
    results: list[tuple[int, bool]] | None = None
    error: BaseException | None = None
    pushed: bool = True
    written: bool = False  # results or error are final
    settled: bool = False  # pushed is final too
    leads: bool = False  # this request writes the next group
    # Released once the slot is settled or leads; a bare lock, as cheap as a signal gets.
    wake: threading.Lock = field(default_factory=_held_lock)

    @property
    def fresh(self) -> list[tuple[int, int]]:
        """(organisation, event id) of each row this request stored for the first time."""
        if not self.results:
            return []
        return [(row["org_id"], event_id) for row, (event_id, new) in zip(self.rows, self.results) if new]


Push = Callable[[list[Slot]], bool]


@dataclass
class GroupCommitter:
    """One writer at a time: the request that finds nobody writing writes every queued slot, then
    names the first slot queued meanwhile the next writer, then hands its own group over. Each
    waiting request is woken once, when its slot is settled or when it is to write."""
    _pending: list[Slot] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock)
    _writing: bool = False

    def submit(self, rows: list[dict], push: Push) -> Slot:
        """Store ``rows`` (with others queued meanwhile); returns the slot with results or error.
        ``push`` hands a written group's slots to the workers (False: it could not)."""
        slot = Slot(rows)
        with self._mutex:
            self._pending.append(slot)
            slot.leads, self._writing = not self._writing, True
        if not slot.leads:
            slot.wake.acquire()
            if slot.settled:
                return slot
        with self._mutex:  # everything queued so far, ours included
            batch, self._pending = self._pending, []
        try:
            self._write(batch)
        finally:
            with self._mutex:
                successor = self._pending[0] if self._pending else None
                self._writing = successor is not None
            if successor is not None:  # the next group is written while this one is handed over
                successor.leads = True
                successor.wake.release()
            self._push(batch, push)
        return slot

    def _write(self, batch: list[Slot], again: bool = True) -> None:
        try:
            results = write_rows([row for slot in batch for row in slot.rows])
        except Exception as exc:
            if _unreachable(exc) and again:  # a connection the server dropped: once more, on a fresh one
                self._write(batch, again=False)
                return
            if len(batch) == 1 or _unreachable(exc):  # no row was refused: each on its own would wait again
                for slot in batch:
                    slot.error, slot.written = exc, True
                return
            # One refused row must not fail its neighbours: write each request on its own.
            for slot in batch:
                self._write([slot])
            return
        i = 0
        for slot in batch:
            slot.results = results[i:i + len(slot.rows)]
            slot.written = True
            i += len(slot.rows)

    @staticmethod
    def _push(batch: list[Slot], push: Push) -> None:
        for slot in batch:
            if not slot.written:  # the writer was interrupted: nothing is known to be stored
                slot.error, slot.written = RuntimeError("the group commit was interrupted"), True
        stored = [slot for slot in batch if slot.error is None]
        pushed = False
        try:
            pushed = push(stored) if any(slot.fresh for slot in stored) else True
        except Exception:  # the rows are stored: the sweeper hands them over
            log.exception("could not hand a group of %d stored calls to the workers", len(stored))
        finally:  # whatever happened, never strand a waiting request
            for slot in batch:
                slot.pushed, slot.settled = pushed, True
                slot.wake.release()


def _unreachable(exc: BaseException) -> bool:
    """The database could not be reached or used at all (a refused connection, a full pool): no
    row of the group was refused, so writing each request on its own would only wait again."""
    driver = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    if isinstance(driver, psycopg.errors.DeadlockDetected):
        return False
    return isinstance(exc, (sa_exc.TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)) or isinstance(
        driver, (psycopg.OperationalError, psycopg.InterfaceError))


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
_KEY = "(org_id, provider, dedupe_key)"
_RETURNING = "id, org_id, provider, dedupe_key"
_PG_SQL: dict[tuple[str, ...], str] = {}
_PG_EXISTING = (f"SELECT {_RETURNING} FROM webhook_events WHERE {_KEY} IN "
                "(SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[]))")


def _pg_insert_sql(columns: tuple[str, ...]) -> str:
    """The INSERT for these columns with one array parameter per column (``unnest``): its text is
    the same however many rows a group holds, so the driver converts it once and PostgreSQL
    prepares it, where one placeholder per value would be parsed anew for every group. The arrays
    go in binary: as text, every quote of every JSON body would be escaped."""
    if columns not in _PG_SQL:
        from sqlalchemy.dialects import postgresql

        table, dialect = WebhookEvent.__table__, postgresql.dialect()
        arrays = ", ".join(f"%b::{table.c[c].type.compile(dialect)}[]" for c in columns)
        _PG_SQL[columns] = (f"INSERT INTO webhook_events ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
                            f"ON CONFLICT {_KEY} DO NOTHING RETURNING {_RETURNING}")
    return _PG_SQL[columns]


def _pg_statements(conn, rows: list[dict]) -> tuple[dict, dict]:
    """The INSERT as plain SQL (no statement compilation), and the ids of the keys it skipped:
    (key → id inserted, key → id already stored)."""
    from psycopg.types.json import Jsonb

    columns = tuple(rows[0])
    params = [[Jsonb(row[c]) if row[c] is not None else None for row in rows] if c in _JSON_COLUMNS
              else [row[c] for row in rows] for c in columns]
    inserted = {(o, p, k): i for i, o, p, k in conn.execute(_pg_insert_sql(columns), params).fetchall()}
    missing = list({(r["org_id"], r["provider"], r["dedupe_key"]) for r in rows} - inserted.keys())
    existing = {}
    if missing:
        existing = {(o, p, k): i for i, o, p, k in conn.execute(
            _PG_EXISTING, [list(values) for values in zip(*missing)]).fetchall()}
    return inserted, existing


def _pg_write(rows: list[dict]) -> tuple[dict, dict]:
    """On PostgreSQL, on the driver's connection from the app's pool, in autocommit: one round trip
    (not BEGIN/INSERT/COMMIT), and no SQLAlchemy execution machinery on the hottest path."""
    pooled = db.engine.raw_connection()
    conn = pooled.driver_connection
    try:
        conn.autocommit = True
        return _pg_statements(conn, rows)
    except Exception:
        if conn.broken or conn.closed:
            pooled.invalidate()  # the pool must not hand out a dead connection
        raise
    finally:
        if not (conn.broken or conn.closed):
            conn.autocommit = False  # the pool's other users expect transactions
        pooled.close()


def _core_write(rows: list[dict]) -> tuple[dict, dict]:
    """Elsewhere (SQLite), the same through SQLAlchemy Core in one transaction."""
    table = WebhookEvent.__table__
    with db.engine.begin() as conn:
        inserted = {(o, p, k): i for i, o, p, k in conn.execute(_insert_statement(), rows)}
        missing = {(r["org_id"], r["provider"], r["dedupe_key"]) for r in rows} - inserted.keys()
        existing = {}
        if missing:
            existing = {(o, p, k): i for i, o, p, k in conn.execute(
                select(table.c.id, table.c.org_id, table.c.provider, table.c.dedupe_key)
                .where(tuple_(table.c.org_id, table.c.provider, table.c.dedupe_key).in_(list(missing))))}
    return inserted, existing


def write_rows(rows: list[dict]) -> list[tuple[int, bool]]:
    """Insert rows, skipping stored (organisation, provider, dedupe_key) keys; (id, newly stored) per row.

    When the same key appears twice in one batch, the first row is the new one."""
    # A bare connection, not the ORM session (no tenancy listeners, no unit of work): the rows
    # name their organisation, and this is the hottest path of the app.
    postgres = db.engine.dialect.name == "postgresql"
    inserted, existing = _pg_write(rows) if postgres else _core_write(rows)
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
    found = current_app.extensions.get("vani_group_commit")
    if found is None:  # made once: not a throwaway one per call
        found = current_app.extensions.setdefault("vani_group_commit", GroupCommitter())
    return found
