"""Outbound delivery throughput: N signed deliveries to a fast local receiver by one worker
process (the deliveries lane's drain job; the subscription has a payload filter and a custom
header), and in the same run a plain loop posting the same bodies with one ``requests.Session``. Then a receiver that fails half of all requests: how the deliveries end.

Needs PostgreSQL and Redis (see bench/common.py). Run:
``python -m bench.deliver [--deliveries 2000] [--failing 1000] [--latency-ms 100]``: with a
latency, the receiver waits that long before each answer, and the rate is compared with the serial
bound (one send at a time: 1000/latency deliveries a second) instead of the plain loop.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import ROOT, bench_env, create_schema, flush_redis, free_port, scratch_database, wait_http

FAILING_SCHEDULE = ",".join(["0s"] * 15)  # 16 attempts, no waiting: the run ends when all are settled


# -- the receiver (runs in its own process) -------------------------------------------------------
def serve(port: int, latency_ms: float = 0.0) -> None:
    import time

    state = {"fail_rate": 0.0, "requests": 0, "ok": {}, "rng": random.Random(7)}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1  # one write per response (headers + body), flushed after each request

        def _reply(self, code: int, body: bytes = b"ok") -> None:
            self.send_response(code)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # stats
            with lock:
                ok = state["ok"]
                stats = {"requests": state["requests"], "acked_ids": len(ok),
                         "acked_twice": sum(1 for n in ok.values() if n > 1)}
            self._reply(200, json.dumps(stats).encode())

        def do_PUT(self) -> None:  # reset with a failure rate
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                state.update(fail_rate=float(self.path.strip("/") or 0), requests=0, ok={})
            self._reply(200)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if latency_ms:
                time.sleep(latency_ms / 1000)
            msg_id = self.headers.get("webhook-id", "")
            with lock:
                state["requests"] += 1
                fail = state["rng"].random() < state["fail_rate"]
                if not fail:
                    state["ok"][msg_id] = state["ok"].get(msg_id, 0) + 1
            self._reply(500 if fail else 200, b"nope" if fail else b"ok")

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):  # a thread per connection
        daemon_threads = True
        request_queue_size = 256  # read by listen(): a worker opens its connections all at once

    Server(("127.0.0.1", port), Handler).serve_forever()


# -- the bench ------------------------------------------------------------------------------------
def sample_data(n: int) -> dict:
    """About the size of a meeting event."""
    return {"id": n, "provider": "calendly", "provider_ref": f"https://api.calendly.com/invitees/{n:08d}",
            "prospect_id": n, "title": "30 Minute Meeting", "start_at": "2026-01-05T10:00:00Z",
            "end_at": "2026-01-05T10:30:00Z", "status": "scheduled", "join_url": f"https://zoom.example.com/j/{n}",
            "location_type": "zoom", "cancellation_reason": None, "replaces_id": None, "paid_at": None,
            "payment_amount": None, "payment_currency": None, "created_at": "2026-01-02T10:00:00Z",
            "updated_at": "2026-01-02T10:00:00Z"}


def prepare(url: str, count: int, tag: str) -> list[bytes]:
    """A fresh subscription to ``url`` (others disabled) and ``count`` fanned-out events. Returns the bodies."""
    from sqlalchemy import update

    from vani import orgs, tenancy
    from vani.extensions import db
    from vani.models import OutboundEvent, WebhookSubscription
    from vani.models.base import utcnow
    from vani.outbound import create_subscription, outbox, signing
    from vani.outbound.fanout import fan_out

    tenancy.set_current(orgs.ensure_default().id)
    db.session.execute(update(WebhookSubscription).values(active=False))
    db.session.commit()
    # Shaped as receivers use it: a payload filter every event meets, and an API key header.
    create_subscription(url, ["*"], f"bench {tag}", filter=['type = "meeting.scheduled"', "data.id exists"],
                        headers={"X-Api-Key": "bench-receiver-key-0123456789"})
    org_id = tenancy.require()
    written = outbox.write([{"org_id": org_id, "type": "meeting.scheduled", "data": sample_data(n),
                             "emit_key": f"bench:{tag}:{n}"} for n in range(count)], utcnow())
    fan_out(written)
    db.session.commit()

    events = db.session.query(OutboundEvent).filter(OutboundEvent.emit_key.like(f"bench:{tag}:%")).all()
    return [signing.event_body(e.msg_id, e.type, e.created_at, e.data).encode() for e in events]


def run_worker_process(env: dict) -> tuple[int, float]:
    """One worker process runs the deliveries lane's drain job until nothing is due (timed
    inside, after start-up)."""
    code = ("import json, time; from vani import create_app; app = create_app(); ctx = app.app_context(); "
            "ctx.push(); from vani.work import drain; t = time.perf_counter(); n = 0\n"
            "while (got := drain('deliveries')): n += got\n"
            "print(json.dumps([n, time.perf_counter() - t]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True, text=True)
    n, took = json.loads(out.stdout.strip().splitlines()[-1])
    return n, took


PLAIN_LOOP = """
import sys, time, requests
url, path = sys.argv[1], sys.argv[2]
bodies = open(path, "rb").read().split(b"\\n")
session = requests.Session()
headers = {"content-type": "application/json", "webhook-id": "msg_plain", "webhook-timestamp": "0",
           "webhook-signature": "v1,plain"}
start = time.perf_counter()
for body in bodies:
    session.post(url, data=body, headers=headers, timeout=15).content
print(time.perf_counter() - start)
"""


def plain_loop(url: str, bodies: list[bytes]) -> float:
    """The same bodies posted by a plain loop with one ``requests.Session``, in a fresh process."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jsonl") as handle:
        handle.write(b"\n".join(bodies))
        handle.flush()
        out = subprocess.run([sys.executable, "-c", PLAIN_LOOP, url, handle.name], check=True, cwd=ROOT,
                             capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def delivery_summary(tag_like: str) -> dict:
    from sqlalchemy import func, select

    from vani.extensions import db
    from vani.models import WebhookDelivery, WebhookSubscription

    rows = db.session.execute(
        select(WebhookDelivery.status, func.count(), func.sum(WebhookDelivery.attempts))
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookSubscription.description == tag_like).group_by(WebhookDelivery.status)).all()
    db.session.rollback()
    return {status: (n, int(attempts or 0)) for status, n, attempts in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--failing", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the receiver waits this long per request")
    parser.add_argument("--database", default="vani_bench_deliver", help="scratch database (dropped first)")
    args = parser.parse_args()

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", f"from bench.deliver import serve; serve({port}, {args.latency_ms})"],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        import requests

        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/")
        # The receiver is on loopback, which production refuses to send to: development settings.
        env = bench_env(scratch_database(args.database), VANI_ENV="development", VANI_ALLOW_PRIVATE_TARGETS="1")
        create_schema(env)
        flush_redis()
        os.environ.update(env)
        from vani import create_app

        app = create_app()
        with app.app_context():
            bodies = prepare(base + "/hook", args.deliveries, "fast")
            done, took = run_worker_process(env)
            fast = delivery_summary("bench fast")
            rate = done / took
            print(f"worker process (drain job, batches, sends in flight): {done} deliveries "
                  f"in {took:.2f}s -> {rate:.0f}/s  (statuses: {fast})")
            if args.latency_ms:
                bound = 1000 / args.latency_ms
                print(f"receiver latency {args.latency_ms:g} ms: serial bound {bound:.1f}/s, "
                      f"ratio worker/serial bound: {rate / bound:.1f}  (goal: >= 100/s)")
            else:
                plain_took = plain_loop(base + "/plain", bodies)
                plain_rate = len(bodies) / plain_took
                print(f"plain loop (one requests.Session, same bodies): {len(bodies)} posts in {plain_took:.2f}s "
                      f"-> {plain_rate:.0f}/s")
                print(f"ratio worker/plain: {rate / plain_rate:.2f}  (goal >= 1.0)")

            requests.put(base + "/0.5", timeout=5)
            prepare(base + "/hook", args.failing, "failing")
            _, fail_took = run_worker_process({**env, "VANI_RETRY_SCHEDULE": FAILING_SCHEDULE})
            summary = delivery_summary("bench failing")
            stats = requests.get(base + "/stats", timeout=5).json()
            delivered = summary.get("delivered", (0, 0))[0]
            attempts = sum(a for _, a in summary.values())
            print(f"50%-failing receiver, {args.failing} deliveries, up to 16 attempts each, "
                  f"in {fail_took:.2f}s: statuses {dict((k, v[0]) for k, v in summary.items())}")
            print(f"  attempts recorded {attempts}, requests received {stats['requests']}, "
                  f"distinct messages acknowledged {stats['acked_ids']}, acknowledged twice {stats['acked_twice']}")
            ok = (delivered == args.failing == stats["acked_ids"] and stats["acked_twice"] == 0
                  and attempts == stats["requests"])
            print("  all delivered, none duplicated beyond retries" if ok else "  NOT all delivered exactly once")
            return 0 if ok and done == args.deliveries else 1
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
