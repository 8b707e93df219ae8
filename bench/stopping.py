"""How long the long-running processes take to stop: an idle worker (forking and ``--simple``)
and the scheduler, each started, given a moment, sent SIGTERM and timed until it exits.

Needs PostgreSQL and Redis. Run: ``python -m bench.stopping [--rounds 5] [--database-url URL]``
(without a URL, a scratch database). Goal: every stop under 10 s (systemd's TimeoutStopSec is 30).
"""
from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, bench_env, create_schema, flush_redis, scratch_database

COMMANDS = {"worker (fork)": ["worker"], "worker (simple)": ["worker", "--simple"], "scheduler": ["scheduler"]}


def beating(database_url: str, pid: int) -> bool:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT 1 FROM process_heartbeats WHERE pid = %s", (pid,)).fetchone() is not None


def one_stop(env: dict, args: list[str], database_url: str, rng: random.Random) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "vani", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not beating(database_url, proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{args} did not start")
            time.sleep(0.1)
        time.sleep(1 + rng.uniform(0, 2))  # idle, in RQ's wait for jobs
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        return time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="an existing Vani database (default: a scratch one)")
    opts = parser.parse_args()
    database_url = opts.database_url or scratch_database("vani_bench_stopping")
    env = bench_env(database_url, VANI_WORKER_LOG_LEVEL="WARNING")
    if not opts.database_url:
        create_schema(env)
    flush_redis()
    rng = random.Random(7)
    print(f"{'process':<16} {'min s':>6} {'median s':>9} {'max s':>6}  ({opts.rounds} SIGTERMs each)")
    for label, args in COMMANDS.items():
        took = [one_stop(env, args, database_url, rng) for _ in range(opts.rounds)]
        print(f"{label:<16} {min(took):>6.2f} {statistics.median(took):>9.2f} {max(took):>6.2f}")


if __name__ == "__main__":
    main()
