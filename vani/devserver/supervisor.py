"""Runs the development processes: prefixed, coloured output; crashes reported and restarted;
everything stopped together.

Children start in their own session, so Ctrl-C reaches only the runner, which then stops each
child's whole process group (gunicorn workers, RQ work horses) with SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

COLOURS = (36, 35, 33, 32, 34, 96, 95, 93)
RESTART_LIMIT = 5


class Output:
    """Thread-safe line printer with a coloured ``name |`` prefix per process."""

    def __init__(self, stream=None, colour: bool | None = None):
        self.stream = stream or sys.stdout
        if colour is None:
            colour = (hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("NO_COLOR")) \
                or bool(os.environ.get("FORCE_COLOR"))
        self.colour = colour
        self.lock = threading.Lock()
        self.width = 9

    def paint(self, text: str, code: int, bold: bool = False) -> str:
        if not self.colour:
            return text
        return f"\033[{'1;' if bold else ''}{code}m{text}\033[0m"

    def line(self, name: str, text: str, code: int = 37) -> None:
        prefix = self.paint(f"{name:<{self.width}}|", code)
        with self.lock:
            self.stream.write(f"{prefix} {text}\n")
            self.stream.flush()

    def block(self, text: str) -> None:
        with self.lock:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    colour: int
    restart: bool = True
    proc: subprocess.Popen | None = None
    crashes: int = 0
    restart_at: float | None = None
    tail: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, out: Output, cwd: str):
        self.out, self.cwd = out, cwd
        self.children: list[Child] = []
        self.stopping = False

    def add(self, name: str, argv: list[str], env: dict[str, str], restart: bool = True) -> Child:
        child = Child(name, argv, env, COLOURS[len(self.children) % len(COLOURS)], restart)
        self.children.append(child)
        self.start(child)
        return child

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.argv, cwd=self.cwd, env=child.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, text=True, bufsize=1, errors="replace")
        child.restart_at = None
        child.pump = threading.Thread(target=self._pump, args=(child, child.proc), daemon=True)
        child.pump.start()

    def run_once(self, name: str, argv: list[str], env: dict[str, str], stop: threading.Event,
                 timeout: float = 600.0) -> int | None:
        """Run a one-shot step (e.g. the migrations) to its end, its output prefixed like the
        others. Its exit code, or None when ``stop`` was set or it ran past ``timeout``."""
        child = self.add(name, argv, env, restart=False)
        deadline = time.monotonic() + timeout
        try:
            while child.proc.poll() is None:
                if stop.wait(0.1) or time.monotonic() > deadline:
                    self.stop_child(child, 10.0)
                    return None
            child.pump.join(5)  # its last lines first
            return child.proc.returncode
        finally:
            self.children.remove(child)

    def _pump(self, child: Child, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            text = raw.rstrip("\n")
            child.tail = (child.tail + [text])[-20:]
            self.out.line(child.name, text, child.colour)

    def check(self) -> list[Child]:
        """Report children that exited; schedule restarts with backoff. Returns the ones that died."""
        died = []
        now = time.monotonic()
        for child in self.children:
            if child.proc is None or self.stopping:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.out.line(child.name, self.out.paint("restarting", 33), child.colour)
                    self.start(child)
                continue
            if not child.restart:  # one-shot helper (e.g. a registration run)
                child.proc = None
                if code != 0:
                    self.out.line(child.name, self.out.paint(f"failed with exit code {code}", 31, True), 31)
                continue
            died.append(child)
            child.crashes += 1
            self.out.line(child.name, self.out.paint(f"CRASHED with exit code {code}", 31, True), 31)
            if child.crashes >= RESTART_LIMIT:
                self.out.line(child.name, self.out.paint(
                    f"crashed {child.crashes} times; not restarting it (fix the error above and restart "
                    "the runner)", 31, True), 31)
                child.proc = None
            else:
                delay = min(2 ** child.crashes, 30)
                child.restart_at = now + delay
                self.out.line(child.name, f"restarting in {delay} s", child.colour)
        return died

    def stop_child(self, child: Child, timeout: float) -> None:
        proc = child.proc
        if proc is None or proc.poll() is not None:
            return
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.out.line(child.name, "did not stop in time; killing it", child.colour)
            _signal_group(proc, signal.SIGKILL)
            proc.wait(5)
        _signal_group(proc, signal.SIGKILL)  # leftovers in its group (a stuck work horse)

    def stop_all(self, timeout: float = 10.0, last: list[Child] | None = None) -> None:
        """Stop every child (``last`` ones after the others, e.g. the Redis the workers use)."""
        self.stopping = True
        last = last or []
        first = [c for c in self.children if c not in last]
        for group in (first, last):
            for child in group:
                if child.running:
                    _signal_group(child.proc, signal.SIGTERM)
            for child in group:
                self.stop_child(child, timeout)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
