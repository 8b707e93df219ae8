"""Daemon threads taking calls from one queue: unlike ``ThreadPoolExecutor``'s, they never hold
the process open at exit. A call still running then (a send whose worker's grace ran out, a
name server that never answers) ends with the process; what it was doing is left to whoever
takes over, as when the process is killed."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class DaemonThreads:
    """At most ``size`` threads, started as calls need them, each named ``{name}-{n}``."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._lock:  # an idle thread is reserved for this call, or a new one started
            if self._idle:
                self._idle -= 1
            elif self._threads < self.size:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True).start()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self._queue.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 (handed to the caller through the future)
                    future.set_exception(exc)
            del future, fn, args
            with self._lock:
                self._idle += 1
