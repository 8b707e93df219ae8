"""Processing throughput: N stored events processed by one worker process, and in the same run
the rate at which the same kind of worker runs no-op RQ jobs.

Needs PostgreSQL and Redis. Run: ``python -m bench.process [--events 2000] [--simple]``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import ROOT, REDIS_URL, bench_env, create_schema, flush_redis, scratch_database


def noop() -> None:
    """The no-op job the worker's baseline rate is measured with."""


def store_events(env: dict, count: int) -> None:
    """Insert ``count`` received Calendly events (as ingest would) and hand them to the workers."""
    code = f"""
import json
from vani import create_app
from vani.extensions import db
from vani.services.group_commit import write_rows
from vani.services.queue import push_events
from vani.models.base import utcnow
from bench.common import calendly_body
app = create_app()
with app.app_context():
    rows = []
    for n in range({count}):
        body = calendly_body(n)
        payload = json.loads(body)
        rows.append(dict(provider="calendly", event_type="invitee.created", dedupe_key=f"bench:{{n}}",
                         verified=True, status="received", body=body, headers={{}}, payload=payload,
                         remote_addr="127.0.0.1", received_at=utcnow(), attempts=0))
    ids = []
    for i in range(0, len(rows), 500):
        ids += [event_id for event_id, _ in write_rows(rows[i:i + 500])]
    push_events(ids)
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

    queue = Queue("vani-inbound", connection=redis.Redis.from_url(REDIS_URL))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--noops", type=int, default=1000)
    parser.add_argument("--simple", action="store_true", help="use RQ's SimpleWorker (no fork per job)")
    args = parser.parse_args()

    env = bench_env(scratch_database("vani_bench_process"))
    create_schema(env)
    flush_redis()
    store_events(env, args.events)
    took = run_worker(env, args.simple)
    done, meetings = count_processed(env)

    flush_redis()
    enqueue_noops(args.noops)
    noop_took = run_worker(env, args.simple)

    kind = "SimpleWorker" if args.simple else "forking Worker"
    rate, noop_rate = done / took, args.noops / noop_took
    print(f"worker: one {kind} process, burst mode (start-up included in both timings)")
    print(f"processed events: {done} of {args.events} ({meetings} meetings) in {took:.2f}s -> {rate:.0f} events/s")
    print(f"no-op RQ jobs:    {args.noops} in {noop_took:.2f}s -> {noop_rate:.0f} jobs/s")
    print(f"ratio events/s to no-op jobs/s: {rate / noop_rate:.2f}  (goal >= 1.0)")
    return 0 if done == args.events else 1


if __name__ == "__main__":
    raise SystemExit(main())
