"""Outbound HTTP with a hard wall-clock deadline: connect, TLS, headers and body together.

``requests``' timeouts are per socket operation, so a receiver that trickles one byte a second
can hold a call open forever. Here every call runs under a ``Deadline``: the sockets it uses
are watched by one thread, which shuts them down when the budget is spent, so the blocked read
returns at once. Connections can also be guarded against SSRF (see ``webhooks.ssrf``).
"""
from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_READ = 64 * 1024  # read at most this much of a response (more drops the connection)


@dataclass(eq=False)
class Deadline:
    at: float  # time.monotonic() value
    sockets: list = field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock) -> None:
        with self.lock:
            if sock is not None and sock not in self.sockets:
                self.sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One daemon thread per process expiring deadlines in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._heap, self._pid = [], os.getpid()  # a forked child starts its own thread
                self._thread = threading.Thread(target=self._run, name="vani-http-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not deadline.sockets and deadline.expired:
                continue
            deadline.expire()


_watchdog = _Watchdog()
_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("vani_http_deadline", default=None)


@contextmanager
def deadline(seconds: float):
    """Everything sent through a ``session()`` inside this block ends within ``seconds``."""
    current = Deadline(time.monotonic() + seconds)
    token = _current.set(current)
    _watchdog.add(current)
    try:
        yield current
    finally:
        _current.reset(token)
        with current.lock:
            current.expired, current.sockets = True, []  # done: the watchdog has nothing to cut


class _Watched:
    """Connection mixin: its socket is cut when the current deadline passes."""

    def _new_conn(self):  # type: ignore[override]
        sock = super()._new_conn()
        active = _current.get()
        if active is not None:
            active.watch(sock)
        return sock

    def request(self, *args, **kwargs):  # type: ignore[override]
        active = _current.get()
        if active is not None and getattr(self, "sock", None) is not None:
            active.watch(self.sock)  # a kept-alive connection, connected under an earlier deadline
        return super().request(*args, **kwargs)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


def _pool(cls, connection):
    return type(f"{connection.__name__}Pool", (cls,), {"ConnectionCls": connection})


WATCHED_POOLS = {"http": _pool(HTTPConnectionPool, WatchedHTTPConnection),
                 "https": _pool(HTTPSConnectionPool, WatchedHTTPSConnection)}


class WatchedAdapter(HTTPAdapter):
    pool_classes = WATCHED_POOLS

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pool_classes)


_sessions: dict[tuple[int, type], requests.Session] = {}


def session(adapter_class: type[WatchedAdapter] = WatchedAdapter) -> requests.Session:
    """This process's keep-alive session for ``adapter_class`` (no proxies or netrc from the
    environment, no retries)."""
    key = (os.getpid(), adapter_class)
    found = _sessions.get(key)
    if found is None:
        found = requests.Session()
        found.trust_env = False
        adapter = adapter_class(pool_connections=16, pool_maxsize=16, max_retries=0)
        found.mount("http://", adapter)
        found.mount("https://", adapter)
        _sessions[key] = found
    return found


def reset_sessions() -> None:
    for s in _sessions.values():
        s.close()
    _sessions.clear()


@dataclass
class Reply:
    status_code: int | None
    headers: Mapping  # case-insensitive when it came from a response
    body: bytes
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(method: str, url: str, timeout: float, http: requests.Session | None = None, **kwargs) -> Reply:
    """One request, finished (or cut) within ``timeout`` seconds. Never raises for network or
    receiver trouble: the reply carries the error. Redirects are never followed."""
    start = time.monotonic()
    http = http or session()

    def done(code=None, headers=None, body=b"", error=None) -> Reply:
        return Reply(code, headers if headers is not None else {}, body, error,
                     int((time.monotonic() - start) * 1000))

    late = f"timed out: no complete response within {timeout:g} s"
    with deadline(timeout) as budget:
        try:
            response = http.request(method, url, timeout=(min(timeout, 10.0), timeout), allow_redirects=False,
                                    stream=True, **kwargs)
        except requests.Timeout:
            return done(error=late)
        except requests.RequestException as exc:
            return done(error=late if budget.expired else f"{_kind(exc)}: {_short(exc)}")
        chunks, size, error = [], 0, None
        try:
            for chunk in response.iter_content(16 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_READ:
                    break
        except (requests.RequestException, OSError) as exc:
            error = late if budget.expired else f"reading the response failed: {_short(exc)}"
        finally:
            response.close()
        if error is None and (budget.expired or budget.remaining < 0):
            error = late
        return done(response.status_code, response.headers, b"".join(chunks), error)


def _kind(exc: Exception) -> str:
    return "connection failed" if isinstance(exc, requests.ConnectionError) else "request failed"


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"
