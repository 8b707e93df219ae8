"""The host's metrics folder (``PROMETHEUS_MULTIPROC_DIR``): created when a process starts, and
emptied when the first of the host's Vani processes starts.

Every process of a host writes its counts into its own files there, and a scrape adds them up, so
the folder gains a set of files per process. While any process of the host runs, the files of the
stopped ones must stay: removing them would make the host's totals drop, which Prometheus reads
as a restart of every counter. Once none runs, they can all go: the next start is a fresh start
of every counter. So each process holds a shared lock on the folder's lock file for its whole life
(forked children inherit it), and a starting process that can take the lock alone empties the folder.
"""
from __future__ import annotations

import logging
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system: no multiprocess metrics there
    fcntl = None

log = logging.getLogger(__name__)

LOCK_FILE = ".processes.lock"

_held: int | None = None  # this process's lock file descriptor, kept open for its whole life


def prepare(environ=os.environ) -> bool:
    """Create the folder and hold its lock; empty it first when no other process of this host uses
    it. True when it was emptied. Call before the first metric is created (``create_app`` does)."""
    global _held
    folder = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder or _held is not None or fcntl is None:
        return False
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o640)
    emptied = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another process of this host runs: its files and the stopped ones' stay
        pass
    else:
        stale = [name for name in os.listdir(folder) if name.endswith(".db")]
        for name in stale:
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass
        emptied = True
        if stale:
            log.info("metrics: no other process of this host runs; emptied %s (%d files)", folder, len(stale))
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held = fd
    return emptied
