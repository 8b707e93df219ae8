"""Behind PgBouncer in transaction mode, a server connection serves another client after each
transaction, so a statement psycopg prepared on one is missing on the next: VANI_PGBOUNCER=1
turns preparing off. Runs a real PgBouncer in front of CI's PostgreSQL."""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from config import Config
from tests.deploy.services import servers
from tests.network import free_tcp_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def bouncer():
    """A PgBouncer in transaction mode with two server connections; yields its database URL."""
    database, _ = servers()
    if not shutil.which(PGBOUNCER):
        pytest.skip("needs pgbouncer (Debian: pgbouncer)")
    with tempfile.TemporaryDirectory(prefix="vani-pgbouncer-") as folder:
        os.chmod(folder, 0o777)  # as root, PgBouncer runs as postgres and writes its log here
        yield from _bouncer(database, Path(folder))


def _bouncer(database: str, tmp_path: Path):
    url = make_url(database.replace("postgres://", "postgresql://", 1))
    port = free_tcp_port()
    (tmp_path / "users.txt").write_text(f'"{url.username}" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(f"""
[databases]
vani = host={url.host} port={url.port or 5432} dbname={url.database} user={url.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
auth_file = {tmp_path / 'users.txt'}
pool_mode = transaction
default_pool_size = 2
logfile = {tmp_path / 'pgbouncer.log'}
pidfile = {tmp_path / 'pgbouncer.pid'}
""")
    user = [] if getpass.getuser() != "root" else ["--user", "postgres"]
    process = subprocess.Popen([PGBOUNCER, *user, str(tmp_path / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    target = f"postgresql+psycopg://{url.username}@127.0.0.1:{port}/vani"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                probe = create_engine(target, poolclass=None)
                with probe.connect() as conn:
                    conn.execute(text("SELECT 1"))
                probe.dispose()
                break
            except Exception:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "pgbouncer.log").read_text()
                time.sleep(0.2)
        yield target
    finally:
        process.terminate()
        process.wait(timeout=10)


def workload(url: str, monkeypatch, pgbouncer: str) -> list[int]:
    """One client runs a statement often enough for psycopg to prepare it; another then holds the
    server connection it used, so the first one's next run lands on the other server connection."""
    monkeypatch.setenv("VANI_PGBOUNCER", pgbouncer)
    monkeypatch.setenv("DATABASE_URL", url)
    engine = create_engine(url, **Config.from_env("testing").SQLALCHEMY_ENGINE_OPTIONS)
    try:
        with engine.connect() as first, engine.connect() as second:
            first = first.execution_options(isolation_level="AUTOCOMMIT")
            for n in range(6):
                first.execute(text("SELECT :n + 1"), {"n": n}).scalar_one()
            with second.begin():
                second.execute(text("SELECT 1"))  # holds the server connection the first one used last
                return [first.execute(text("SELECT :n + 1"), {"n": n}).scalar_one() for n in range(3)]
    finally:
        engine.dispose()


def test_prepared_statements_break_transaction_mode(bouncer, monkeypatch):
    with pytest.raises(ProgrammingError, match="prepared statement"):
        workload(bouncer, monkeypatch, pgbouncer="0")


def test_with_the_switch_they_are_off_and_the_work_goes_through(bouncer, monkeypatch):
    assert workload(bouncer, monkeypatch, pgbouncer="1") == [1, 2, 3]
