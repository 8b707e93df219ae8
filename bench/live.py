"""Live dashboard latency: a provider's POST to the row on screen, in a real browser.

Starts gunicorn (gthread, so the Server-Sent Events stream has threads of its own) on a scratch
PostgreSQL database, signs a member in with headless Chromium (Playwright, /usr/bin/chromium)
and opens the events page. Then, one at a time, posts ``--posts`` signed Calendly webhooks and
notes when each event's row is painted (a MutationObserver, then the next animation frame),
against the wall clock the POST started at. Prints p50 and p95 (the goal: p95 under 200 ms).

Needs PostgreSQL and Redis (see bench/common.py). Run:
``python -m bench.live [--posts 60] [--gap 0.3]``.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import subprocess
import sys
import time

from bench.common import (ROOT, bench_env, calendly_body, create_schema, flush_redis, free_port, median, pct,
                          scratch_database, wait_http)

EMAIL, PASSWORD = "bench-live@example.com", "bench-live-password"
CHROMIUM = "/usr/bin/chromium"

WATCH = """() => {
  window.__painted = {};
  window.__fetches = [];
  new PerformanceObserver(list => list.getEntries().forEach(e => {
    if (e.name.indexOf('partial=1') >= 0)
      window.__fetches.push([performance.timeOrigin + e.startTime, performance.timeOrigin + e.responseEnd]);
  })).observe({type: 'resource', buffered: false});
  new MutationObserver(records => {
    const at = [];
    for (const r of records) for (const n of r.addedNodes)
      if (n.nodeType === 1) [n, ...n.querySelectorAll('tr[data-id]')].forEach(e => e.matches('tr[data-id]') && at.push(e.dataset.id));
    if (at.length) requestAnimationFrame(() => { const now = Date.now(); at.forEach(id => window.__painted[id] = now); });
  }).observe(document.querySelector('main'), {childList: true, subtree: true});
}"""


def signed(body: bytes, secret: str) -> dict:
    t = int(time.time())
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Calendly-Webhook-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def measure(base: str, posts: int, gap: float, secret: str) -> list[float]:
    import requests
    from playwright.sync_api import sync_playwright

    session = requests.Session()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/dashboard/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/dashboard/")
        page.goto(f"{base}/dashboard/events")
        page.wait_for_selector("#live-status:not([hidden])", state="attached")
        page.evaluate(WATCH)
        latencies, parts = [], []
        for n in range(posts + 5):  # the first five warm up
            body = calendly_body(1_000_000 + n)
            started = time.time() * 1000
            response = session.post(f"{base}/api/webhooks/calendly", data=body, headers=signed(body, secret))
            answered = time.time() * 1000
            event_id = str(response.json()["event_id"])
            page.wait_for_function("id => !!window.__painted[id]", arg=event_id, timeout=5000, polling=10)
            if n >= 5:
                painted = page.evaluate("id => window.__painted[id]", event_id)
                latencies.append(painted - started)
                fetched = page.evaluate("() => window.__fetches.splice(0)")
                if fetched:
                    parts.append((answered - started, fetched[0][0] - started, fetched[-1][1] - fetched[-1][0],
                                  painted - fetched[-1][1]))
            time.sleep(gap)
        browser.close()
    if parts:
        names = ("POST answered", "fragment fetch starts", "fragment fetch takes", "painted after fetch")
        for label, stat in (("median", median), ("p95", lambda v: pct(v, 95))):
            print(f"  {label} breakdown: " + ", ".join(f"{name} {stat([p[i] for p in parts]):.0f} ms"
                                                     for i, name in enumerate(names)))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between posts")
    args = parser.parse_args()
    env = bench_env(scratch_database("vani_bench_live"))
    create_schema(env)
    flush_redis()
    subprocess.run([sys.executable, "-m", "flask", "--app", "run", "vani", "create-user", EMAIL, "--password",
                    PASSWORD, "--role", "viewer"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "bench" / "gunicorn_bench.conf.py"), "run:app",
         "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "8", "--worker-class", "gthread",
         "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        latencies = measure(base, args.posts, args.gap, env["CALENDLY_WEBHOOK_SIGNING_KEY"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"provider POST to painted row, events page, {len(latencies)} posts {args.gap:.1f}s apart (Chromium)")
    print(f"p50 {median(latencies):.0f} ms   p95 {pct(latencies, 95):.0f} ms   max {max(latencies):.0f} ms"
          f"   (goal: p95 < 200 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
