"""Shared setup for the benchmarks: a scratch PostgreSQL database and Redis db, sample bodies."""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def scratch_database(name: str) -> str:
    """Drop and create database ``name``; returns its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(PG_ADMIN)
    return parsed._replace(path=f"/{name}").geturl()


# Production settings for scratch databases (production refuses short keys and no encryption key).
BENCH_SECRET_KEY = "bench-secret-key-for-scratch-databases-only"
BENCH_ENCRYPTION_KEY = "YmVuY2gtZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhISE="


def bench_env(database_url: str, **extra: str) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "VANI_ENV": "production",
                "SECRET_KEY": BENCH_SECRET_KEY, "VANI_ENCRYPTION_KEYS": BENCH_ENCRYPTION_KEY,
                "CALENDLY_WEBHOOK_SIGNING_KEY": "bench-signing-key",
                "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


def create_schema(env: dict) -> None:
    code = ("from vani import create_app; from vani.extensions import db; app=create_app();"
            "ctx=app.app_context(); ctx.push(); db.create_all()")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def calendly_body(n: int) -> bytes:
    """A realistic invitee.created body (about 2 KB), unique per ``n``."""
    uid = f"{n:08d}-bench"
    body = {
        "created_at": "2026-01-02T10:00:00.000000Z",
        "created_by": "https://api.calendly.com/users/BENCHUSER",
        "event": "invitee.created",
        "payload": {
            "cancel_url": f"https://calendly.com/cancellations/{uid}",
            "created_at": "2026-01-02T10:00:00.000000Z",
            "email": f"prospect{n}@example.com",
            "event": f"https://api.calendly.com/scheduled_events/{uid}",
            "name": f"Prospect {n}",
            "first_name": None, "last_name": None, "new_invitee": None, "old_invitee": None,
            "no_show": None, "payment": None, "reconfirmation": None, "rescheduled": False,
            "questions_and_answers": [{"question": "What would you like to discuss?", "answer": "Pricing",
                                       "position": 0}],
            "reschedule_url": f"https://calendly.com/reschedulings/{uid}",
            "routing_form_submission": None,
            "scheduled_event": {
                "created_at": "2026-01-02T10:00:00.000000Z",
                "start_time": "2026-01-05T10:00:00.000000Z", "end_time": "2026-01-05T10:30:00.000000Z",
                "event_guests": [], "event_memberships": [{"user": "https://api.calendly.com/users/BENCHUSER",
                                                           "user_email": "host@example.com"}],
                "event_type": "https://api.calendly.com/event_types/BENCHTYPE",
                "invitees_counter": {"active": 1, "limit": 1, "total": 1},
                "location": {"join_url": f"https://zoom.example.com/j/{n}", "status": "pushed", "type": "zoom"},
                "name": "30 Minute Meeting", "status": "active",
                "updated_at": "2026-01-02T10:00:00.000000Z",
                "uri": f"https://api.calendly.com/scheduled_events/{uid}",
            },
            "status": "active", "text_reminder_number": None, "timezone": "Europe/Berlin",
            "tracking": {"utm_campaign": None, "utm_source": None, "utm_medium": None, "utm_content": None,
                         "utm_term": None, "salesforce_uuid": None},
            "updated_at": "2026-01-02T10:00:00.000000Z",
            "uri": f"https://api.calendly.com/scheduled_events/{uid}/invitees/{uid}",
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def timed(fn, runs: int) -> list[float]:
    for _ in range(max(5, runs // 10)):  # warm caches and plans
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out
