"""The full-length Schemathesis run: every operation of /api/v1/openapi.json, many examples
each, against gunicorn on PostgreSQL and Redis, with an admin token and a little data to find.
Checks: no 5xx, and status codes, content types, headers and bodies as documented. Prints
Schemathesis' report; the exit status is its own (0: nothing found).

Run: ``python -m bench.schemathesis [--examples 500] [--workers 4]``. The test suite runs a short
version in-process (``tests/api/test_schemathesis.py``).
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import subprocess
import sys
import time

from bench.common import ROOT, bench_env, calendly_body, create_schema, flush_redis, free_port, scratch_database, wait_http

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance," \
         "response_schema_conformance"


def flask(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "run", "vani", *args], env=env, cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout


def seed(base: str, key: str, count: int = 20) -> None:
    """Signed Calendly bookings, so events, prospects and meetings exist."""
    import requests

    for n in range(count):
        body, t = calendly_body(n), str(int(time.time()))
        sig = hmac.new(key.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        requests.post(base + "/api/webhooks/calendly", data=body, timeout=10, headers={
            "Content-Type": "application/json", "Calendly-Webhook-Signature": f"t={t},v1={sig}"}).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=500, help="examples per operation")
    # One thread: with several, Hypothesis' lambda-source cache raised "AST constructor recursion
    # depth mismatch" inside Schemathesis' coverage phase (an error of the tool, not an answer).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    env = bench_env(scratch_database("vani_bench_schemathesis"))
    create_schema(env)
    flush_redis()
    token = flask(env, "create-token", "schemathesis", "--scope", "admin").strip().split()[-1]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "bench" / "gunicorn_bench.conf.py"),
                               "run:app", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "8",
                               "--worker-class", "gthread", "--log-level", "warning",
                               "--limit-request-line", "0"], cwd=ROOT, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "vani", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        seed(base, env["CALENDLY_WEBHOOK_SIGNING_KEY"])
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", base + "/api/v1/openapi.json", "--url", base,
               "-H", f"Authorization: Bearer {token}", "--checks", CHECKS, "--max-examples", str(args.examples),
               "--workers", str(args.workers), "--phases", args.phases]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        started = time.monotonic()
        status = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        print(f"schemathesis: {args.examples} examples per operation, {time.monotonic() - started:.0f} s, "
              f"exit status {status}")
        return status
    finally:
        for proc in (server, worker):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
