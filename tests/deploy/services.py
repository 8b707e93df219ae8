"""For the deployment tests that start Vani as a host does: a scratch PostgreSQL database and a
Redis database of their own on CI's servers (the tests skip without them), and the processes,
each with its log, stopped at the end."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text


def servers() -> tuple[str, str]:
    """CI's PostgreSQL and Redis URLs; skips the test without them."""
    database = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    redis_url = os.environ.get("REDIS_URL") or ""
    if not database.startswith(("postgres://", "postgresql")) or not redis_url:
        pytest.skip("starts Vani as a host does: needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    return database, redis_url


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server (dropped afterwards); yields its postgresql:// URL."""
    url = make_url(server_url.replace("postgres://", "postgresql://", 1)).set(drivername="postgresql+psycopg")
    name = f"vani_deploy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name, drivername="postgresql").render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_redis(server_url: str) -> Iterator[str]:
    """The next database number of the tests' Redis, empty before and after."""
    import redis

    base, _, number = server_url.rstrip("/").rpartition("/")
    other = (int(number) + 1) % 16 if number.isdigit() else 1
    url = f"{base if number.isdigit() else server_url.rstrip('/')}/{other}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def query(database_url: str, sql: str):
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], seconds: float, what: str, logs: Callable[[], str] = str):
    """``check()``'s first true answer within ``seconds``, else the test fails saying ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s\n{logs()}")
        time.sleep(0.25)


def answers(url: str) -> int | None:
    """The HTTP status of GET ``url`` (None while nothing listens)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class Processes:
    """Long-running processes started for a test, each writing to its own log."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.running: dict[str, subprocess.Popen] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as out:
            process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.running)

    def dead(self) -> list[str]:
        return [name for name, p in self.running.items() if p.poll() is not None]

    def stop(self, name: str, seconds: float = 5.0) -> None:
        """SIGTERM, as systemd and docker stop; SIGKILL what is left after ``seconds`` (how fast
        each process stops is tested elsewhere)."""
        process = self.running.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(seconds)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self, seconds: float = 5.0) -> None:
        for name in list(self.running):
            process = self.running[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for name in list(self.running):
            process = self.running.pop(name)
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
