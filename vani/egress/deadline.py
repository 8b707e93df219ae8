"""A hard wall-clock deadline for outbound calls: connect, TLS, headers and body together.

``requests``' timeouts are per socket operation, so a receiver that trickles one byte a second
can hold a call open forever. Here every call runs under a ``Deadline``: the sockets it uses
are watched by one thread, which shuts them down when the budget is spent, so the blocked read
returns at once.
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
from dataclasses import dataclass, field


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
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            if earliest is None or deadline.at < earliest:
                self._cond.notify()  # the thread sleeps until the earliest: only an earlier one wakes it

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
    """Every connection the egress makes or reuses inside this block ends within ``seconds``."""
    current = Deadline(time.monotonic() + seconds)
    token = _current.set(current)
    _watchdog.add(current)
    try:
        yield current
    finally:
        _current.reset(token)
        with current.lock:
            current.expired, current.sockets = True, []  # done: the watchdog has nothing to cut


def watch(sock) -> None:
    """Cut ``sock`` when the deadline in force (if any) passes."""
    active = _current.get()
    if active is not None and sock is not None:
        active.watch(sock)
