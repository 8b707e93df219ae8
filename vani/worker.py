"""The RQ worker, run inside the app context."""
from __future__ import annotations

import os

from flask import current_app
from rq import SimpleWorker, Worker

from vani.extensions import db, redis_ext
from vani.services.queue import ALL_QUEUES


_fork_hook_installed = False


def _fresh_connections_in_child() -> None:
    # A forked work horse must not reuse the parent's database sockets.
    try:
        db.engine.dispose(close=False)
    except RuntimeError:  # forked outside an app context: nothing to reset
        pass


def make_worker(queues: list[str] | None = None, simple: bool | None = None) -> Worker:
    if simple is None:
        simple = current_app.config.get("VANI_WORKER_CLASS") == "simple"
    cls = SimpleWorker if simple else Worker
    global _fork_hook_installed
    if not simple and not _fork_hook_installed:
        os.register_at_fork(after_in_child=_fresh_connections_in_child)
        _fork_hook_installed = True
    return cls(queues or list(ALL_QUEUES), connection=redis_ext.client)


def run_worker(queues: list[str] | None = None, burst: bool = False, simple: bool | None = None) -> bool:
    worker = make_worker(queues, simple)
    level = str(current_app.config.get("VANI_WORKER_LOG_LEVEL") or "INFO").upper()
    return worker.work(burst=burst, with_scheduler=True, logging_level=level)
