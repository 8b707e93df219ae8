"""A threaded HTTP server on loopback standing in for a receiver of sends (Slack, Kapso): a
thread per connection, counting the requests in flight (overall and by a key of each request)
so a test can say how many were sent at once."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    """A thread per connection; a worker opens its connections all at once, so the listen backlog
    is larger than the default five (a dropped connect would read as a failed send)."""

    daemon_threads = True
    request_queue_size = 128


class Gate:
    """Holds the first requests until ``count`` are in flight together, or ``patience`` seconds
    have passed; then it stays open. A test sees sends overlap for certain, and a gate waiting
    for one more than a limit allows gives a send beyond the limit time to show up."""

    def __init__(self, count: int, patience: float = 10.0):
        self.count, self.patience = count, patience
        self.open = threading.Event()

    def wait(self, in_flight: int) -> None:
        if in_flight >= self.count:
            self.open.set()
        if not self.open.wait(self.patience):
            self.open.set()


class Loopback:
    """``answer(path, body)`` returns (status, body) and may block; ``key(path, body)`` names
    the group a request is counted in (``most[key]``: the most in flight together)."""

    def __init__(self, answer: Callable[[str, bytes], tuple[int, bytes]],
                 key: Callable[[str, bytes], str] = lambda path, body: path, gate: Gate | None = None):
        self.lock = threading.Lock()
        self.now: Counter = Counter()
        self.most: Counter = Counter()
        self.seen: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                group = key(self.path, body)
                with outer.lock:
                    outer.seen.append((self.path, body))
                    outer.now[group] += 1
                    outer.now["*"] += 1
                    for name in (group, "*"):
                        outer.most[name] = max(outer.most[name], outer.now[name])
                    in_flight = outer.now["*"]
                try:
                    if gate is not None:
                        gate.wait(in_flight)
                    status, reply = answer(self.path, body)
                finally:
                    with outer.lock:
                        outer.now[group] -= 1
                        outer.now["*"] -= 1
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
