"""deploy/entrypoint.sh, all the image's logic, run directly for every role with the container's
settings (CI's PostgreSQL and Redis; no Docker needed): migrate, the operator's commands, web and
its health check, worker, scheduler and mail. Each role's program replaces the script, so the
container's signals reach it; together they turn a signed call into a prospect."""
from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import guide
from tests.deploy.services import Processes, free_port, query, scratch_database, scratch_redis, servers, wait_for

pytestmark = pytest.mark.slow
ENTRYPOINT = guide.DEPLOY / "entrypoint.sh"
# Each long-running role, and what its process is once the script has handed over to it.
LONG_RUNNING = {"web": "gunicorn -c gunicorn.conf.py run:app", "worker": "--app run vani worker",
                "scheduler": "--app run vani scheduler", "mail": "--app run vani mail watch"}


@pytest.fixture
def container(tmp_path):
    """The environment a container gets from the Dockerfile and compose.yaml (on loopback here)."""
    database_server, redis_server = servers()
    with scratch_database(database_server) as database, scratch_redis(redis_server) as redis_url:
        yield {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
            "LANG": "C.UTF-8", "VANI_ENV": "production", "HOST": "127.0.0.1", "PORT": str(free_port()),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "WEB_CONCURRENCY": "1",
            "SECRET_KEY": secrets.token_urlsafe(48), "VANI_ENCRYPTION_KEYS": _fernet_key(),
            "DATABASE_URL": database, "REDIS_URL": redis_url,
            "CALENDLY_WEBHOOK_SIGNING_KEY": secrets.token_hex(16),
        }


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def entrypoint(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_an_unknown_role_gets_the_usage(tmp_path):
    for args in ((), ("nonsense",)):
        result = subprocess.run([str(ENTRYPOINT), *args], capture_output=True, text=True, cwd=tmp_path, timeout=10)
        assert result.returncode == 64 and "usage:" in result.stderr


def test_every_role_runs_from_the_entrypoint(container, tmp_path):
    url = f"http://127.0.0.1:{container['PORT']}"
    migrated = entrypoint(container, "migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert query(container["DATABASE_URL"], "SELECT count(*) FROM alembic_version")[0][0] == 1

    checked = entrypoint(container, "check-config", "--skip", "cal-com", "--skip", "kapso", "--skip", "twilio",
                         "--skip", "gmail", cwd=tmp_path)
    assert checked.returncode == 0 and "0 error(s)" in checked.stdout, checked.stdout + checked.stderr
    admin = entrypoint(container, "flask", "vani", "create-user", "admin@example.com", "--superuser", cwd=tmp_path)
    assert admin.returncode == 0 and "(superuser)" in admin.stdout, admin.stderr
    assert entrypoint(container, "healthcheck", cwd=tmp_path).returncode == 1  # nothing listens yet

    processes = Processes(tmp_path / "logs")
    try:
        pids = {role: processes.start(role, [str(ENTRYPOINT), role], container, tmp_path).pid for role in LONG_RUNNING}
        for role, program in LONG_RUNNING.items():
            wait_for(lambda: program in command_line(pids[role]), 20, f"the {role} role's process is {program!r}",
                     processes.logs)
        assert Path(container["PROMETHEUS_MULTIPROC_DIR"]).is_dir()
        wait_for(lambda: entrypoint(container, "healthcheck", cwd=tmp_path).returncode == 0, 30,
                 "the health check passes", processes.logs)

        sent = entrypoint(container, "flask", "vani", "webhooks", "simulate", "calendly", "invitee.created",
                          "--url", url, cwd=tmp_path)
        assert sent.returncode == 0 and "200 OK" in sent.stdout, sent.stdout + sent.stderr
        wait_for(lambda: query(container["DATABASE_URL"], "SELECT count(*) FROM prospects")[0][0] == 1, 30,
                 "the worker made the prospect", processes.logs)
        assert processes.dead() == [], processes.logs()
    finally:
        processes.stop_all()
