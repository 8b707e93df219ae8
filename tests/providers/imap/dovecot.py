"""A throwaway Dovecot IMAP server for tests: one user, INBOX and Sent, plain IMAP on a loopback port.

``dovecot`` (the fixture) starts ``/usr/sbin/dovecot -F`` from a config in a temporary folder and
stops it after the test; ``stop()`` and ``start()`` drop and bring back the server on the same port.
Skipped when Dovecot is not installed (``apt-get install dovecot-imapd``).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "sales@example.com", "imap-secret"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = vani-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:{root}/mail/%n
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    auto = subscribe
    special_use = \\Sent
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Dovecot:
    """One Dovecot instance: ``host``, ``port``, ``user``, ``password``; ``client()`` logs in."""

    host = "127.0.0.1"
    user, password = USER, PASSWORD

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        mail = root / "mail"
        mail.mkdir()
        shutil.chown(mail, "dovecot", "dovecot")
        self.conf = root / "dovecot.conf"
        self.conf.write_text(CONFIG.format(root=root, port=self.port, password=PASSWORD))

    def start(self, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen([DOVECOT, "-c", str(self.conf), "-F"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited ({self.proc.returncode}): {self.proc.stderr.read().decode()}"
                                   f"{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not listen on port {self.port}: {self.log()}")
            time.sleep(0.05)

    def stop(self, graceful: bool = True) -> None:
        """Stop the server and every process it started: open connections drop. Not ``graceful``:
        killed at once, as when a test is over."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if graceful and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        try:  # its imap, log and stats processes outlive the master: end its whole session
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(5)
        deadline = time.monotonic() + 5
        while listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def connected(self) -> list[int]:
        """The process id behind each open connection to this server (from ``/proc``: Linux)."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[2].rpartition(":")[2], 16) == self.port:  # ESTABLISHED
                    inodes.add(fields[9])
        pids = []
        for fd in Path("/proc").glob("[0-9]*/fd/*"):
            try:
                target = os.readlink(fd)
            except OSError:  # gone, or not ours to read
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                pids.append(int(fd.parts[2]))
        return sorted(pids)

    def client(self):
        """A logged-in ``IMAPClient`` (the test's own, e.g. to append messages)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def form(self, **changes) -> dict:
        """The fields ``mailboxes.add_imap`` takes for this server's mailbox."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "ssl": "0", "folders": "INBOX,Sent", **changes}


@pytest.fixture
def dovecot(app):
    """A Dovecot on a loopback port of its own: the app allows that port for the test (IMAP servers
    are otherwise limited to 143 and 993; loopback is allowed in testing)."""
    app.config["VANI_ALLOW_ANY_PORT"] = True
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip(f"Dovecot is not installed ({DOVECOT} is missing): apt-get install dovecot-imapd")
    # Dovecot's own users must reach the folder: not under pytest's tmp_path (mode 0700), and short
    # enough for the UNIX sockets in base_dir.
    root = Path(tempfile.mkdtemp(prefix="vani-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.stop(graceful=False)
        shutil.rmtree(root, ignore_errors=True)
