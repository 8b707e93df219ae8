"""Many sends in flight for one claim: the network calls run on the process's send threads,
while everything that touches the database stays in the claiming thread.

A lane's handler gives ``run`` its items in order and three steps for each: ``begin`` (claiming
thread: decide, mark as started, commit) returns the call, or None when nothing is to be sent;
the call runs on a send thread; ``finish`` (claiming thread again) records its outcome from the
call's ``Future``. At most ``VANI_SEND_CONCURRENCY`` calls run at once in a process, and at most
``per_key`` share one key (a subscription, a conversation), so one slow receiver cannot take
every slot: an item whose key is full waits, in order, while later items of other keys go ahead.

Each call runs with a copy of the claiming thread's context variables (request id, egress
policy) inside an application context of its own: its own ``g`` and, should it need one, its
own database session, never the claim's. Given ``submit``, the calls are coroutines instead,
run on one event loop (a thread of its own multiplexing every connection) rather than a thread
each; they are given all they need (no application context, no context variables). When
``between`` (called between steps: renew the lease, look at the stop flag) says stop, nothing
more is begun; the calls in flight finish and are recorded, and ``run`` returns the items never
begun.
"""
from __future__ import annotations

import contextvars
import heapq
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Future, wait
from typing import Any, TypeVar

from flask import Flask, current_app

from vani.threads import DaemonThreads

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 32
DEFAULT_PER_SUBSCRIPTION = 20
TICK = 0.5  # seconds: ``between`` runs at least this often while calls are in flight

_pools: dict[tuple[int, int], DaemonThreads] = {}
_lock = threading.Lock()


def concurrency(cfg: Mapping) -> int:
    """Calls one process keeps in flight at most (``VANI_SEND_CONCURRENCY``)."""
    return max(int(cfg.get("VANI_SEND_CONCURRENCY") or DEFAULT_CONCURRENCY), 1)


def per_subscription(cfg: Mapping) -> int:
    """Calls to one subscription (or one channel) in flight at most (``VANI_SEND_PER_SUBSCRIPTION``)."""
    return min(max(int(cfg.get("VANI_SEND_PER_SUBSCRIPTION") or DEFAULT_PER_SUBSCRIPTION), 1), concurrency(cfg))


def pool(size: int) -> DaemonThreads:
    """This process's send threads (started as needed; a forked child starts its own)."""
    key = (os.getpid(), size)
    with _lock:
        found = _pools.get(key)
        if found is None:
            # (a stop whose grace ran out ends a call in flight; its row is left to the takeover)
            found = _pools[key] = DaemonThreads(size, "vani-send")
        return found


def _in_app(app: Flask, call: Callable[[], Any]) -> Any:
    with app.app_context():
        return call()


def run(items: Iterable[T], key: Callable[[T], Hashable], begin: Callable[[T], Callable[[], Any] | None],
        finish: Callable[[T, Future], None], between: Callable[[], bool], per_key: int,
        limit: int | None = None, submit: Callable[[Any], Future] | None = None) -> list[T]:
    """Send ``items`` (see the module's docstring); returns the items never begun (a stop).
    ``limit``: calls in flight at most for this run (the process's limit unless smaller).
    ``submit``: the calls ``begin`` returns make coroutines, which ``submit`` runs (on an event
    loop of its own) and gives back a future."""
    app = current_app._get_current_object()
    size = concurrency(app.config)
    limit = min(limit or size, size)
    per_key = max(per_key, 1)
    if submit is not None:
        def start(call: Callable[[], Any]) -> Future:
            return submit(call())
    else:
        threads = pool(size)

        def start(call: Callable[[], Any]) -> Future:
            return threads.submit(contextvars.copy_context().run, _in_app, app, call)
    queues: dict[Hashable, deque[tuple[int, T]]] = {}
    for index, item in enumerate(items):
        queues.setdefault(key(item), deque()).append((index, item))
    running: dict[Hashable, int] = dict.fromkeys(queues, 0)
    heads = [(q[0][0], k) for k, q in queues.items()]  # the first waiting item of each key with a free slot
    heapq.heapify(heads)
    busy: dict[Future, tuple[Hashable, T]] = {}
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # calls done, in the order they ended
    going = True
    try:
        while True:
            going = going and between()
            while going and heads and len(busy) < limit:
                _, k = heapq.heappop(heads)
                _, item = queues[k].popleft()
                call = begin(item)
                if call is not None:
                    future = start(call)
                    future.add_done_callback(finished.put)
                    busy[future] = (k, item)
                    running[k] += 1
                if queues[k] and running[k] < per_key:
                    heapq.heappush(heads, (queues[k][0][0], k))
            if not busy:
                if going and heads:
                    continue
                break
            for future in _ended(finished):
                k, item = busy.pop(future)
                running[k] -= 1
                if queues[k] and running[k] == per_key - 1:  # it had no free slot until now
                    heapq.heappush(heads, (queues[k][0][0], k))
                finish(item, future)
    except Exception:  # a bug in a step: what went out is still recorded before the claim is failed
        _settle(busy, finish)
        raise  # (a hard stop, SystemExit, waits for nothing: its rows are left to the takeover)
    return [item for _, item in sorted((entry for q in queues.values() for entry in q), key=lambda e: e[0])]


def _ended(finished: queue.SimpleQueue) -> list[Future]:
    """The calls that ended since the last look: waits up to ``TICK`` for the first (one queue
    for the run, rather than a waiter on every call in flight each time)."""
    try:
        done = [finished.get(timeout=TICK)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done


def _settle(busy: dict[Future, tuple[Hashable, T]], finish: Callable[[T, Future], None]) -> None:
    for future in list(busy):
        _, item = busy.pop(future)
        wait([future])
        try:
            finish(item, future)
        except Exception:
            log.exception("recording a send that finished after its claim failed")
