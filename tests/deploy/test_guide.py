"""docs/deploy.md works as written. Its marked blocks are typed, in the guide's order, into one
shell on a scratch host (stand-ins for sudo, useradd, git, pip and systemd; CI's PostgreSQL and
Redis): they install Vani, set up the database and the first admin, and enable the units; the test
then runs every unit a boot would start, as systemd would (ExecStart=, EnvironmentFile=,
Environment=), and the guide's signed sample call becomes a prospect. Then the guide's split into
worker groups, which must still cover every queue and outlast a reboot, and its upgrade."""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from rq import Worker

from tests.deploy import guide, stand_ins
from tests.deploy.services import (
    Processes, answers, free_port, query, scratch_database, scratch_redis, servers, wait_for,
)
from vani.lanes import LANES
from vani.work.wake import MAINTENANCE_QUEUE, queue_name

pytestmark = pytest.mark.slow
STEPS = ("install", "setup", "systemd", "smoke", "status", "split", "upgrade")
EVERY_QUEUE = {queue_name(lane) for lane in LANES} | {MAINTENANCE_QUEUE}


@dataclass
class Host:
    scratch: Path
    terminal: guide.Terminal
    processes: Processes
    database: str
    redis_url: str
    port: int
    units: dict[str, int] = field(default_factory=dict)  # running unit → pid

    def path(self, host_path: str) -> Path:
        return Path(guide.relocate(host_path, self.scratch))

    def type(self, step: str) -> str:
        output = self.terminal.run(step, guide.blocks()[step])
        assert guide.Terminal.FAILED not in output, f"the guide's {step!r} block failed:\n{output}"
        return output

    def boot(self) -> set[str]:
        """The units a reboot would start now; none may be missing."""
        started, missing = guide.started_at_boot(self.path("/etc/systemd/system"))
        assert not missing, f"units pulled in at boot but not installed: {missing}"
        return started

    def run_units(self, wanted: set[str]) -> None:
        """Stop the running units that are no longer wanted, start the wanted ones, as systemd would."""
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.scratch / "home")}
        for name in sorted(set(self.units) - wanted):
            self.processes.stop(name)
            del self.units[name]
        for name in sorted(wanted - set(self.units)):
            command = guide.exec_start(self.path("/etc/systemd/system"), name, base, self.scratch)
            self.units[name] = self.processes.start(name, command.argv, command.env, command.cwd).pid

    def queues_listened(self) -> set[str]:
        """The queues the running units' workers listen on (as they registered in Redis)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            return {q for w in Worker.all(connection=client) if w.pid in self.units.values()
                    for q in w.queue_names()}
        finally:
            client.close()


@pytest.fixture
def host(tmp_path):
    database_server, redis_server = servers()
    scratch = tmp_path / "host"
    for folder in ("home", "opt", "var/lib", "etc/systemd/system"):
        (scratch / folder).mkdir(parents=True)
    stand_ins.write(scratch / "stand-ins", sys.executable)
    env = {"PATH": f"{scratch / 'stand-ins'}:{os.environ['PATH']}", "HOME": str(scratch / "home"), "LANG": "C.UTF-8",
           "GUIDE_ROOT": str(guide.ROOT), "GUIDE_SCRATCH": str(scratch), "GUIDE_VENV": sys.prefix,
           "GUIDE_UNITS": str(scratch / "etc/systemd/system"), "GUIDE_LOG": str(scratch / "stand-ins.log")}
    processes = Processes(scratch / "logs")
    terminal = guide.Terminal(scratch, env)
    with scratch_database(database_server) as database, scratch_redis(redis_server) as redis_url:
        try:
            yield Host(scratch, terminal, processes, database, redis_url, free_port())
        finally:
            processes.stop_all()
            terminal.close()


def edit(path: Path, scratch: Path, **settings: str) -> None:
    """What the operator does by hand after the install block: set these lines of vani.env (and,
    here, the host's paths in it are the scratch host's)."""
    lines = guide.relocate(path.read_text(), scratch).splitlines()
    for key, value in settings.items():
        at = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        if at:
            lines[at[0]] = f"{key}={value}"
        else:
            lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")


def test_the_guide_installs_and_runs_vani(host):
    assert set(STEPS) <= set(guide.blocks()), "a block the test runs lost its marker in docs/deploy.md"

    host.type("install")
    settings = host.path("/etc/vani/vani.env")
    generated = guide.env_file(settings)
    assert len(generated["SECRET_KEY"]) >= 32 and generated["VANI_ENCRYPTION_KEYS"]  # the guide made the keys
    edit(settings, host.scratch, DATABASE_URL=host.database, REDIS_URL=host.redis_url, PORT=str(host.port),
         WEB_CONCURRENCY="1", GUNICORN_THREADS="4", CALENDLY_WEBHOOK_SIGNING_KEY=secrets.token_hex(16),
         CAL_COM_WEBHOOK_SECRET=secrets.token_hex(16), KAPSO_WEBHOOK_SECRET=secrets.token_hex(16),
         TWILIO_AUTH_TOKEN=secrets.token_hex(16), GMAIL_PUSH_TOKEN=secrets.token_hex(16))

    output = host.type("setup")
    assert "0 error(s)" in output, output
    assert query(host.database, "SELECT email, is_superuser FROM users") == [("you@example.com", True)]

    host.type("systemd")
    host.run_units(host.boot())
    wait_for(lambda: answers(f"http://127.0.0.1:{host.port}/healthz") == 200, 30, "the web unit answers",
             host.processes.logs)
    wait_for(lambda: host.queues_listened() >= EVERY_QUEUE, 30, "the workers listen on every queue",
             host.processes.logs)

    output = host.type("smoke")
    assert "200 OK" in output and '"accepted"' in output, output
    wait_for(lambda: query(host.database, "SELECT count(*) FROM prospects")[0][0] == 1, 30,
             "the signed sample call became a prospect", host.processes.logs)

    output = host.type("status")  # exits 1 unless a worker and the scheduler are alive
    roles = {line.split()[0] for line in output.splitlines() if line.strip()}
    assert {"worker", "scheduler", "mail_watcher"} <= roles, output

    host.type("split")
    split = host.boot()
    assert not any(name.startswith("vani-worker@all") for name in split), "vani-worker@all would start again"
    host.run_units(split)
    wait_for(lambda: host.queues_listened() >= EVERY_QUEUE, 30, "the worker groups listen on every queue",
             host.processes.logs)

    host.type("upgrade")
    assert not host.processes.dead(), f"units stopped by themselves: {host.processes.dead()}\n{host.processes.logs()}"
