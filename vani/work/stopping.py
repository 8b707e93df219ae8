"""A process's stop request: SIGTERM or SIGINT recorded in a flag that the work loops consult.

The signal handler only sets the flag (an assignment, which nothing can swallow); the loops
look at it between items: the worker's wait for jobs, a drain between claims, a lane's handler
between rows. A stopping drain hands its unsettled rows back (``Claim.release``) instead of
holding them until their lease runs out.
"""
from __future__ import annotations

import signal

SIGNALS = (signal.SIGTERM, signal.SIGINT)

_requested = False


def request(_signum: int | None = None, _frame=None) -> None:
    """Ask this process to stop (usable as a signal handler)."""
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


def clear() -> None:
    global _requested
    _requested = False


def install(handler=request) -> None:
    """Handle SIGTERM and SIGINT with ``handler`` (by default: just record the request)."""
    for sig in SIGNALS:
        signal.signal(sig, handler)


def install_for(event) -> None:
    """Handle SIGTERM and SIGINT by recording the request and setting ``event`` from a thread of
    its own: ``Event.set`` takes the event's lock, which the interrupted main thread may hold
    (inside ``event.wait``), so setting it in the handler itself could hang the process."""
    import threading

    def handler(signum, frame):
        request(signum, frame)
        threading.Thread(target=event.set, name="stop", daemon=True).start()

    install(handler)
