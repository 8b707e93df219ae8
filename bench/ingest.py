"""Ingest throughput: signed Calendly webhooks vs a bare endpoint, same gunicorn, 32 connections.

Needs PostgreSQL, Redis and ``wrk`` (Debian package). Both endpoints are warmed up for 2 s (the
webhook with bodies of its own, so the measured ones are all new), then measured in turns, bare
then webhook, ``--rounds`` times: on a shared machine the load drifts, and turns expose both to
the same drift. Prints each turn, then requests/s over all turns, the median p50 and p99, the
ratio of the rates and the ratio of the p99s.
Run: ``python -m bench.ingest [--seconds 5] [--rounds 3] [--workers 2] [--threads 16]``.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import hmac
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, bench_env, calendly_body, create_schema, flush_redis, free_port, scratch_database, wait_http

SCRIPT = Path(__file__).with_name("wrk_signed.lua")


def write_requests(path: Path, count: int, key: str, first: int = 0) -> None:
    t = str(int(time.time()))
    with path.open("w") as out:
        for n in range(first, first + count):
            body = calendly_body(n)
            sig = hmac.new(key.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
            out.write(f"/api/webhooks/calendly\tt={t},v1={sig}\t{body.decode()}\n")


def parse_wrk(output: str) -> dict:
    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "requests": total,
            "non2xx": int(errors.group(1)) if errors else 0}


def run_wrk(url: str, seconds: int, connections: int, threads: int, script_args: list[str] | None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script_args:
        cmd += ["-s", str(SCRIPT), url, "--", *script_args]
    else:
        cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def stored_events(env: dict) -> int:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0]


def summary(turns: list[dict]) -> dict:
    """Requests/s over every turn (as wrk timed each); the median turn's p50 and p99."""
    return {"rps": sum(t["requests"] for t in turns) / sum(t["requests"] / t["rps"] for t in turns),
            "p50": statistics.median(t["p50"] for t in turns), "p99": statistics.median(t["p99"] for t in turns),
            "requests": sum(t["requests"] for t in turns), "non2xx": sum(t["non2xx"] for t in turns)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="length of each turn")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2

    env = bench_env(scratch_database("vani_bench_ingest"))
    create_schema(env)
    flush_redis()
    port = free_port()
    server = subprocess.Popen(
        # An empty config file: only the settings below (no access log, no worker recycling).
        [sys.executable, "-m", "gunicorn", "-c", str(SCRIPT.with_name("gunicorn_bench.conf.py")), "run:app",
         "-b", f"127.0.0.1:{port}", "-w", str(args.workers),
         "--threads", str(args.threads), "--worker-class", "gthread" if args.threads > 1 else "sync",
         "--log-level", "warning", "--keep-alive", "5"],
        cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        with tempfile.TemporaryDirectory() as tmp:
            # Each turn its own unique bodies, enough that no wrk thread wraps around (a wrapped
            # one would send duplicates).
            count = max(20000, args.seconds * 4000)
            key = env["CALENDLY_WEBHOOK_SIGNING_KEY"]
            files = [Path(tmp) / f"turn-{n}.tsv" for n in range(args.rounds + 1)]
            for n, path in enumerate(files):
                write_requests(path, count if n else 12000, key, first=n * count)
            webhook = base + "/api/webhooks/calendly"
            run_wrk(base + "/healthz", 2, args.connections, 2, None)  # warm up
            run_wrk(webhook, 2, args.connections, 2, [str(files[0]), "2"])
            before = stored_events(env)
            bare, ingest = [], []
            for path in files[1:]:
                bare.append(run_wrk(base + "/healthz", args.seconds, args.connections, 2, None))
                ingest.append(run_wrk(webhook, args.seconds, args.connections, 2, [str(path), "2"]))
    finally:
        server.terminate()
        server.wait(timeout=30)

    stored = stored_events(env) - before
    print(f"gunicorn: {args.workers} worker(s) x {args.threads} thread(s); wrk: {args.connections} connections; "
          f"{args.rounds} turns of {args.seconds}s per endpoint")
    header = f"{'endpoint':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}"
    print(header)
    for n, (b, i) in enumerate(zip(bare, ingest), 1):
        for name, r in ((f"{n}. bare /healthz", b), (f"{n}. calendly webhook", i)):
            print(f"{name:<24}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    total = {name: summary(turns) for name, turns in (("bare", bare), ("ingest", ingest))}
    print(header)
    for name, label in (("bare", "all: bare /healthz"), ("ingest", "all: calendly webhook")):
        r = total[name]
        print(f"{label:<24}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    print(f"ratio ingest/bare: {total['ingest']['rps'] / total['bare']['rps']:.2f}  (goal >= 0.50)")
    print(f"p99 ingest/bare: {total['ingest']['p99'] / total['bare']['p99']:.2f}  (goal <= 3.0)")
    # wrk counts the answers it read; the calls in flight when it stops are stored too.
    print(f"events stored during the turns: {stored} for {total['ingest']['requests']} answered calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
