"""Fixtures of the egress tests: a receiver that answers too slowly."""
from __future__ import annotations

import socket
import threading
import time

import pytest


class Trickler:
    """A loopback server that answers one byte at a time, ``gap`` seconds apart, forever."""

    def __init__(self, head: bytes, gap: float = 0.02):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.head, self.gap = head, gap
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        try:
            conn.recv(65536)
            conn.sendall(self.head)
            while not self.stop.is_set():
                conn.sendall(b"x")
                time.sleep(self.gap)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickler_factory():
    made = []

    def make(head: bytes = b"", gap: float = 0.02) -> Trickler:
        made.append(Trickler(head, gap))
        return made[-1]

    yield make
    for t in made:
        t.close()
