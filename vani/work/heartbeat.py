"""Heartbeats: every worker, scheduler and mail watcher keeps a row saying it is alive.

``running(role, lanes)`` writes the process's row at start, then every ``VANI_HEARTBEAT_SECONDS``
from a daemon thread with connections of its own (the engine's pool, never the request's
session), and deletes it on a clean stop. A database outage is logged once and waited out. A
killed process leaves its row, *silent* once its last beat is older than three intervals
(``SILENT_BEATS``); the daily cleanup removes rows silent for a day. ``beat(leading=...)`` lets a
process that elects a leader (scheduler, mail watcher) say whether it leads.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from vani.extensions import db
from vani.models import ProcessHeartbeat, ProcessRole
from vani.models.base import as_utc, utcnow
from vani.version import __version__

log = logging.getLogger(__name__)

SILENT_BEATS = 3      # a row is silent once its last beat is older than this many intervals
EXPECTED = (ProcessRole.WORKER, ProcessRole.SCHEDULER)  # every deployment runs these
_KEEP = object()
_table = ProcessHeartbeat.__table__


class Heartbeat:
    """One process's row and the thread that keeps it fresh."""

    def __init__(self, engine: Engine, role: ProcessRole, lanes: list[str], interval: float,
                 leading: bool | None = None) -> None:
        self.engine, self.role, self.lanes, self.interval = engine, role, list(lanes), interval
        self.leading = leading
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = utcnow()
        self.row_id: int | None = None
        self._down = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        self.write()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.role}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def beat(self, leading=_KEEP) -> bool:
        """Write the row now (with ``leading`` when given); False while the database is away."""
        if leading is not _KEEP:
            self.leading = leading
        return self.write()

    def write(self) -> bool:
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    now = utcnow()
                    found = self.row_id is not None and conn.execute(
                        update(_table).where(_table.c.id == self.row_id)
                        .values(last_beat=now, leading=self.leading)).rowcount
                    if not found:  # first beat, or the row was removed meanwhile
                        self.row_id = conn.execute(insert(_table).values(
                            role=self.role, host=self.host[:255], pid=self.pid, lanes=self.lanes,
                            version=__version__, started_at=self.started_at, last_beat=now,
                            leading=self.leading)).inserted_primary_key[0]
            except SQLAlchemyError as exc:
                if not self._down:
                    log.warning("heartbeat: the database is unreachable (%s); retrying every %g s",
                                type(exc).__name__, self.interval)
                self._down = True
                return False
            if self._down:
                log.info("heartbeat: the database is back")
                self._down = False
            return True

    def stop(self) -> None:
        """End the thread and delete the row (a clean stop leaves nothing behind)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            if self.row_id is None:
                return
            try:
                with self.engine.begin() as conn:
                    conn.execute(delete(_table).where(_table.c.id == self.row_id))
            except SQLAlchemyError as exc:
                log.warning("heartbeat: could not remove this process's row (%s); it will show as silent",
                            type(exc).__name__)


_current: Heartbeat | None = None


@contextmanager
def running(role: ProcessRole, lanes: list[str] | None = None) -> Iterator[Heartbeat]:
    """Keep this process's heartbeat row for the block (deleted when the block ends)."""
    global _current
    interval = float(current_app.config.get("VANI_HEARTBEAT_SECONDS", 2))
    heart = Heartbeat(db.engine, role, lanes or [], interval).start()
    _current = heart
    try:
        yield heart
    finally:
        _current = None
        heart.stop()


def current_id() -> int | None:
    """This process's heartbeat row (the owner its claims record), or None without one."""
    return _current.row_id if _current is not None else None


def silent_ids(cfg, now: datetime):
    """A query of the heartbeat rows gone silent as of ``now`` (their processes were killed)."""
    return select(_table.c.id).where(_table.c.last_beat < now - silent_after(cfg))


def beat(leading=_KEEP) -> bool:
    """Write this process's heartbeat now, saying whether it leads when ``leading`` is given
    (True/False; None: not elected). False when the process keeps no heartbeat."""
    return _current.beat(leading) if _current is not None else False


@dataclass(frozen=True)
class Process:
    """A heartbeat row as the status command, the dashboard and the metrics show it."""

    role: ProcessRole
    host: str
    pid: int
    lanes: list[str]
    version: str
    started_at: datetime
    last_beat: datetime
    leading: bool | None
    age: timedelta      # since the last beat
    silent: bool

    @property
    def ago(self) -> str:
        """The age of the last beat, short: "4 s", "3 min", "2 h", "5 d"."""
        seconds = max(int(self.age.total_seconds()), 0)
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"


def silent_after(cfg) -> timedelta:
    return timedelta(seconds=SILENT_BEATS * float(cfg.get("VANI_HEARTBEAT_SECONDS", 2)))


def silent_after_text() -> str:
    return f"{silent_after(current_app.config).total_seconds():g} s"


def processes(now: datetime | None = None) -> list[Process]:
    """Every heartbeat row, by role, host and pid, each with the age of its last beat."""
    now = now or utcnow()
    limit = silent_after(current_app.config)
    rows = db.session.execute(select(_table).order_by(_table.c.role, _table.c.host, _table.c.pid)).all()
    db.session.rollback()
    found = []
    for r in rows:
        last = as_utc(r.last_beat)
        found.append(Process(ProcessRole(r.role), r.host, r.pid, list(r.lanes or []), r.version,
                             as_utc(r.started_at), last, r.leading, now - last, now - last > limit))
    return found


def live_counts(found: list[Process]) -> dict[ProcessRole, int]:
    """Live (not silent) processes of each role, every role named."""
    counts = {role: 0 for role in ProcessRole}
    for p in found:
        if not p.silent:
            counts[p.role] += 1
    return counts


def missing_roles(found: list[Process]) -> list[ProcessRole]:
    """The roles every deployment runs that have no live process."""
    counts = live_counts(found)
    return [role for role in EXPECTED if counts[role] == 0]


def remove_silent(older_than: timedelta, now: datetime | None = None) -> int:
    """Delete rows whose last beat is older than ``older_than`` (killed processes); commits."""
    cutoff = (now or utcnow()) - older_than
    count = db.session.execute(delete(_table).where(_table.c.last_beat < cutoff)).rowcount
    db.session.commit()
    return count or 0
