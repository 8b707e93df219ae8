"""WhatsApp replies: queueing through the API, then sending through a local fake Kapso.

N replies are queued with ``POST /api/v1/conversations/<id>/messages`` (each posted twice with
the same ``Idempotency-Key``, as a client retrying would), then one worker process drains the
``message_sends`` lane against a Meta-style receiver that fails a share of calls with 500 or 429.
Prints the API's time per request, the send rate, and how many times the receiver saw each reply
(the goal: every reply exactly once, whatever the failures).

Needs PostgreSQL and Redis (see bench/common.py). Run:
``python -m bench.replies [--replies 1000] [--fail-rate 0.2]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import ROOT, bench_env, create_schema, flush_redis, free_port, scratch_database, wait_http


def serve(port: int, fail_rate: float) -> None:
    """A Meta-style messages endpoint: 200 with a fresh wamid, or 500 / 429 at ``fail_rate``."""
    state = {"seen": {}, "calls": 0, "rng": random.Random(11)}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1  # one write per response (headers + body)

        def _reply(self, code: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with lock:
                seen = state["seen"]
                self._reply(200, {"calls": state["calls"], "accepted": len(seen),
                                  "accepted_twice": sum(1 for n in seen.values() if n > 1)})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            with lock:
                state["calls"] += 1
                roll = state["rng"].random()
                if roll < fail_rate / 2:
                    return self._reply(500, {"error": {"message": "try later", "code": 1}})
                if roll < fail_rate:
                    return self._reply(429, {"error": {"message": "slow down", "code": 130429}}, {"Retry-After": "0"})
                text = body.get("text", {}).get("body", "")
                state["seen"][text] = state["seen"].get(text, 0) + 1
                n = state["calls"]
            self._reply(200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.bench{n}"}]})

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def seed(conversations: int) -> tuple[str, list[int]]:
    """Conversations with a fresh inbound message each, and an API token. Returns (token, ids)."""
    from vani import orgs, tenancy
    from vani.accounts.tokens import create_token
    from vani.extensions import db
    from vani.models import Conversation, Message
    from vani.models.base import utcnow

    tenancy.set_current(orgs.ensure_default().id)
    ids = []
    for n in range(conversations):
        conv = Conversation(provider="kapso", provider_ref=f"bench-{n}", phone=f"+1555{n:07d}", business_ref="pn1")
        db.session.add(conv)
        db.session.flush()
        db.session.add(Message(conversation_id=conv.id, provider="kapso", provider_message_id=f"wamid.in{n}",
                               direction="inbound", text="hola", status="received", message_at=utcnow()))
        ids.append(conv.id)
    db.session.commit()
    return create_token("bench", ["messages"])[1], ids


def queue(app, token: str, conv_ids: list[int], replies: int) -> list[float]:
    """Post each reply twice with one key; the time of every request, in ms."""
    client = app.test_client()
    times = []
    for n in range(replies):
        conv = conv_ids[n % len(conv_ids)]
        for _ in range(2):
            start = time.perf_counter()
            r = client.post(f"/api/v1/conversations/{conv}/messages", json={"text": f"reply {n}"},
                            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{n}"})
            times.append((time.perf_counter() - start) * 1000)
            assert r.status_code == 202, r.get_json()
    return times


def drain_process(env: dict) -> tuple[int, float]:
    code = ("import json, time; from vani import create_app; app = create_app(); ctx = app.app_context(); "
            "ctx.push(); from vani.work import drain; t = time.perf_counter(); n = 0; idle = 0\n"
            "while idle < 3:\n"
            "    got = drain('message_sends'); n += got; idle = 0 if got else idle + 1; time.sleep(0 if got else 1.1)\n"
            "print(json.dumps([n, time.perf_counter() - t - 3.3]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True, text=True)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--database", default="vani_bench_replies", help="scratch database (dropped first)")
    args = parser.parse_args()

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", f"from bench.replies import serve; serve({port}, {args.fail_rate})"],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        import requests

        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/")
        env = bench_env(scratch_database(args.database), KAPSO_API_KEY="bench-key", KAPSO_API_BASE_URL=base,
                        VANI_SEND_MAX_ATTEMPTS="50", VANI_SEND_RETRY_SCHEDULE="0s", VANI_RETRY_JITTER="0")
        create_schema(env)
        flush_redis()
        os.environ.update(env)
        from vani import create_app

        app = create_app()
        with app.app_context():
            token, conv_ids = seed(args.conversations)
            times = queue(app, token, conv_ids, args.replies)
            cuts = statistics.quantiles(times, n=100)
            print(f"API: {len(times)} requests ({args.replies} replies, each posted twice with one key): "
                  f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms")
            sent, took = drain_process(env)
            stats = requests.get(base + "/", timeout=5).json()
            print(f"worker: {sent} claims in {took:.2f}s; receiver: {stats['calls']} calls "
                  f"({args.fail_rate:.0%} answered 500/429), {stats['accepted']} replies accepted "
                  f"-> {stats['accepted'] / took:.0f} replies/s")
            print(f"replies accepted twice: {stats['accepted_twice']}  (goal 0); "
                  f"missing: {args.replies - stats['accepted']}  (goal 0)")
    finally:
        receiver.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
