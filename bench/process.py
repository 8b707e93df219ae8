"""Processing throughput: N stored events processed by one worker process, and in the same run
the rate at which the same kind of worker runs no-op RQ jobs; both worker kinds (the default
forking ``Worker`` and ``--simple``) unless one is asked for.

Needs PostgreSQL and Redis. Run: ``python -m bench.process [--events 2000] [--mode simple|fork|both]``.
Goal: events/s at least twice the no-op jobs/s of the same worker (ratio >= 2.0) in ``--simple`` mode.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import REDIS_URL, ROOT, bench_env, create_schema, flush_redis, scratch_database


def noop() -> None:
    """The no-op job the worker's baseline rate is measured with."""


def store_events(env: dict, count: int) -> None:
    """Insert ``count`` received Calendly events (as ingest would) and hand them to the workers."""
    code = f"""
import json
from vani import create_app
from vani.extensions import db
from vani.ingest.group_commit import write_rows
from vani.processing.events import wake
from vani.models.base import utcnow
from bench.common import calendly_body
from vani import orgs
app = create_app()
with app.app_context():
    org_id = orgs.ensure_default().id
    rows = []
    for n in range({count}):
        body = calendly_body(n)
        payload = json.loads(body)
        now = utcnow()
        rows.append(dict(org_id=org_id, provider="calendly", event_type="invitee.created", dedupe_key=f"bench:{{n}}",
                         verified=True, status="received", body=body, headers={{}}, payload=payload,
                         remote_addr="127.0.0.1", received_at=now, next_attempt_at=now, attempts=0))
    for i in range(0, len(rows), 500):
        write_rows(rows[i:i + 500])
    wake()
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def run_worker(env: dict, simple: bool) -> float:
    cmd = [sys.executable, "-m", "flask", "--app", "run", "vani", "worker", "--burst"]
    if simple:
        cmd.append("--simple")
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def enqueue_noops(count: int) -> None:
    import redis
    from rq import Queue

    queue = Queue("vani-events", connection=redis.Redis.from_url(REDIS_URL))
    with queue.connection.pipeline() as pipe:
        for _ in range(count):
            queue.enqueue("bench.process.noop", pipeline=pipe, result_ttl=0)
        pipe.execute()


def count_processed(env: dict) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        done = conn.execute("SELECT count(*) FROM webhook_events WHERE status='processed'").fetchone()[0]
        meetings = conn.execute("SELECT count(*) FROM meetings").fetchone()[0]
    return done, meetings


def measure(env: dict, events: int, noops: int, simple: bool) -> tuple[float, float, int]:
    """(events/s, no-op jobs/s, events processed) for one worker kind."""
    create_schema(env)
    flush_redis()
    store_events(env, events)
    took = run_worker(env, simple)
    done, meetings = count_processed(env)
    flush_redis()
    enqueue_noops(noops)
    noop_took = run_worker(env, simple)
    kind = "SimpleWorker (--simple)" if simple else "forking Worker (default)"
    rate, noop_rate = done / took, noops / noop_took
    print(f"{kind}: one process, burst mode, start-up included in both timings")
    print(f"  processed events: {done} of {events} ({meetings} meetings) in {took:.2f}s -> {rate:.0f} events/s")
    print(f"  no-op RQ jobs:    {noops} in {noop_took:.2f}s -> {noop_rate:.0f} jobs/s")
    print(f"  ratio events/s to no-op jobs/s: {rate / noop_rate:.2f}" + ("  (goal >= 2.0)" if simple else ""))
    return rate, noop_rate, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--noops", type=int, default=1000)
    parser.add_argument("--mode", choices=("simple", "fork", "both"), default="both")
    args = parser.parse_args()
    ok = True
    for simple in {"simple": [True], "fork": [False], "both": [True, False]}[args.mode]:
        env = bench_env(scratch_database("vani_bench_process"))
        _, _, done = measure(env, args.events, args.noops, simple)
        ok = ok and done == args.events
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
