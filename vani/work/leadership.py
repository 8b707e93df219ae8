"""Leadership between copies of a process: named locks held for as long as this process lives.

On PostgreSQL a name is a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
its own that stays open while the locks are held. The lock dies with that connection, so when a
holder is killed PostgreSQL frees its locks at once and another copy, asking every second or two,
takes over. A holder cut off without a word (its host gone, a network split) is noticed on both
sides within about 10 s: the connection sends TCP keepalives and gives up on unanswered data after
``tcp_user_timeout``, and asks the server to do the same (the session settings of the same names).
Every ``holds`` check runs a query (with a timeout): a holder whose connection failed knows at once
that it leads nothing any more, and stops acting.

On SQLite (development and tests, one machine) a name is an exclusive ``flock`` on a file in a
folder beside the database (``<database>-locks/``), which the system frees when the process ends;
with an in-memory database every lock is granted.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0      # how often a follower asks to lead
CHECK_TIMEOUT_MS = 5000  # the longest a check may wait on the server
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
             "tcp_user_timeout": 10000, "connect_timeout": 5}
SERVER_SIDE = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 3",
               "SET tcp_user_timeout = 10000", "SET idle_session_timeout = 0",
               f"SET statement_timeout = {CHECK_TIMEOUT_MS}")


def key(name: str) -> int:
    """The advisory lock key of ``name``: the first 8 bytes of its SHA-256, as a signed bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _Postgres:
    """Advisory locks on one dedicated connection."""

    def __init__(self, url: str):
        import psycopg

        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = None
        self.errors = (psycopg.Error, OSError)  # what a lost or refused connection raises
        self.joined: set[int] = set()

    def _connection(self):
        if self.conn is None:
            import psycopg

            conn = psycopg.connect(self.conninfo, autocommit=True, application_name="vani-leadership", **KEEPALIVE)
            for statement in SERVER_SIDE:
                try:
                    conn.execute(statement)
                except psycopg.errors.UndefinedObject:  # a server older than the setting: keepalives still work
                    log.debug("leadership: the server refused %r", statement)
            self.conn = conn
        return self.conn

    def lock(self, keys: list[int]) -> set[int]:
        rows = self._connection().execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)", [keys]).fetchall()
        return {k for (k,) in rows}

    def unlock(self, k: int) -> None:
        self._connection().execute("SELECT pg_advisory_unlock(%s)", [k])

    def held(self) -> set[int]:
        rows = self._connection().execute(
            "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND granted AND pid = pg_backend_pid()").fetchall()
        return {_signed((high << 32) | low) for high, low in rows}

    def members(self, k: int) -> int:
        conn = self._connection()
        if k not in self.joined:
            conn.execute("SELECT pg_advisory_lock_shared(%s)", [k])  # only ever shared: never waits
            self.joined.add(k)
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s AND objid = %s", [(k >> 32) & 0xFFFFFFFF, k & 0xFFFFFFFF]).fetchone()[0]

    def close(self) -> None:
        conn, self.conn, self.joined = self.conn, None, set()
        if conn is not None:
            try:  # let go before closing: the server ends the session a moment after the close
                conn.execute("SELECT pg_advisory_unlock_all()")
            except self.errors:  # already broken: the server frees them with the session
                pass
            conn.close()


class _Files:
    """One lock file per name in a folder (``flock``: freed by the system when the process ends)."""

    errors = (OSError,)

    def __init__(self, folder: Path | None):
        self.folder, self.open = folder, {}

    def lock(self, keys: list[int]) -> set[int]:
        if self.folder is None:
            self.open.update({k: None for k in keys})
            return set(keys)
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        for k in keys:
            file = open(self.folder / f"{k & 0xFFFFFFFFFFFFFFFF:016x}", "a+b")  # noqa: SIM115 - open while held
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.open[k] = file
            except OSError:  # another process holds it
                file.close()
        return {k for k in keys if k in self.open}

    def unlock(self, k: int) -> None:
        file = self.open.pop(k, None)
        if file is not None:
            file.close()

    def held(self) -> set[int]:
        return set(self.open)

    def members(self, k: int) -> int:
        return 1  # one machine: no sharing out

    def close(self) -> None:
        for k in list(self.open):
            self.unlock(k)


def _signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def _backend(url: str):
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _Postgres(url)
    database = parsed.database
    return _Files(Path(f"{database}-locks") if database and database != ":memory:" else None)


class Locks:
    """The named locks one process holds (one connection for all of them, safe across threads).

    ``try_lead(name)`` takes a name if no other process holds it; ``holds(name)`` checks, against
    the server, that this process still does (False, and every name dropped, once the connection
    failed); ``resign(name)`` lets it go; ``close()`` lets every name go."""

    def __init__(self, url: str):
        self.url = url
        self._backend = _backend(url)
        self._held: dict[int, str] = {}
        self._mutex = threading.Lock()
        self._broken = False

    def try_lead(self, name: str) -> bool:
        return name in self.try_lead_many([name])

    def try_lead_many(self, names: Iterable[str]) -> set[str]:
        """Take whichever of ``names`` no other process holds (in one round trip); the names held now."""
        wanted = {key(n): n for n in names}
        with self._mutex:
            missing = [k for k in wanted if k not in self._held]
            if missing:
                got = self._call(lambda: self._backend.lock(missing), set())
                self._held.update({k: wanted[k] for k in got})
            return {n for k, n in wanted.items() if k in self._held}

    def holds(self, name: str) -> bool:
        return name in self.verify()

    def verify(self) -> set[str]:
        """The names this process still holds, as the server sees them (none when it cannot say)."""
        with self._mutex:
            if not self._held:
                return set()
            granted = self._call(self._backend.held, set())
            for k in set(self._held) - granted:
                log.warning("no longer holding %s", self._held.pop(k))
            return set(self._held.values())

    def resign(self, name: str) -> None:
        k = key(name)
        with self._mutex:
            if self._held.pop(k, None) is not None:
                self._call(lambda: self._backend.unlock(k), None)

    def members(self, group: str) -> int:
        """Join ``group`` (a lock every member shares) and count the processes in it (at least 1)."""
        with self._mutex:
            return max(int(self._call(lambda: self._backend.members(key(group)), 1)), 1)

    def close(self) -> None:
        with self._mutex:
            self._held.clear()
            self._backend.close()

    def _call(self, action: Callable, failed):
        """``action()``; on a database error, drop the connection and every name with it."""
        try:
            result = action()
        except self._backend.errors as exc:
            if not self._broken:
                log.warning("leadership: the database connection failed (%s); leading nothing until it is back", exc)
            self._broken = True
            self._held.clear()
            self._backend.close()
            return failed
        if self._broken:
            log.info("leadership: the database connection is back")
            self._broken = False
        return result


def follow(locks: Locks, name: str, stop: threading.Event, lead: Callable[[], None],
           poll: float = POLL_SECONDS) -> None:
    """Until ``stop`` is set: ask to lead ``name`` every ``poll`` seconds, and while leading call
    ``lead()``, which returns when ``stop`` is set or ``locks.holds(name)`` turns False."""
    following = False
    while not stop.is_set():
        if locks.try_lead(name):
            log.info("%s: leading", name)
            following = False
            try:
                lead()
            finally:
                locks.resign(name)
            if not stop.is_set():
                log.warning("%s: lost the lead; following", name)
        elif not following:
            log.info("%s: another copy leads; taking over when it stops", name)
            following = True
        stop.wait(poll)
