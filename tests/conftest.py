"""Test fixtures. PostgreSQL and real Redis when ``TEST_DATABASE_URL``/``DATABASE_URL`` and
``REDIS_URL`` are set (CI), else a SQLite file and fakeredis.

With pytest-xdist installed, the whole suite against SQLite and fakeredis runs in one worker per
core (``-n 0`` runs it in one process); a run against PostgreSQL and Redis, or of chosen tests,
stays in one process unless ``-n`` says otherwise. Each worker has a database of its own (on
PostgreSQL, the configured one's name with the worker's suffix, made here) and, on a real Redis,
the configured database number plus the worker's (pub/sub is shared by the whole server)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.clients import csrf_token_from, fresh_client
from tests.settings import SECRETS
from vani import create_app
from vani.extensions import db as _db


def real_services() -> bool:
    return any(os.environ.get(name) for name in ("TEST_DATABASE_URL", "DATABASE_URL", "REDIS_URL"))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """One worker per core for the whole suite on SQLite and fakeredis, when pytest-xdist is there."""
    option = config.option
    if getattr(option, "numprocesses", "absent") is not None or worker_number() is not None:
        return  # no pytest-xdist, -n given, or a worker already
    if option.collectonly or option.usepdb:
        return
    if real_services() or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return  # PostgreSQL and Redis, or chosen files: one process
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores > 1:
        option.numprocesses, option.dist = cores, "loadfile"


def worker_number() -> int | None:
    """0, 1, … in a pytest-xdist worker; None in a single process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return int(worker.removeprefix("gw")) if worker else None


def worker_database(url: str, worker: int) -> str:
    """The configured database's name with the worker's suffix (made if missing on PostgreSQL)."""
    configured = make_url(url)
    if configured.get_backend_name() != "postgresql":  # a SQLite file
        path = Path(configured.database)
        return configured.set(database=str(path.with_stem(f"{path.stem}_gw{worker}"))).render_as_string(
            hide_password=False)
    name = f"{configured.database}_gw{worker}"
    admin = create_engine(configured, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return configured.set(database=name).render_as_string(hide_password=False)


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        from config import _database_url

        os.environ.setdefault("DATABASE_URL", url)
        url = _database_url(url)
        if worker_number() is not None:
            url = worker_database(url, worker_number())
            os.environ["DATABASE_URL"] = url  # for the processes the tests start
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def redis_url() -> str | None:
    """``REDIS_URL``; in a worker, with the configured database number plus the worker's."""
    url = os.environ.get("REDIS_URL")
    if url and worker_number():
        from urllib.parse import urlsplit

        from redis.connection import parse_url

        number = int(parse_url(url).get("db", 0)) + worker_number()
        url = urlsplit(url)._replace(path=f"/{number}").geturl()
        os.environ["REDIS_URL"] = url  # for the processes the tests start
    return url


@pytest.fixture(scope="session")
def redis_client():
    url = redis_url()
    if url:
        import redis

        client = redis.Redis.from_url(url)
        client.ping()
    else:
        import fakeredis

        client = fakeredis.FakeRedis()
    yield client


@pytest.fixture(scope="session")
def _app(tmp_path_factory, redis_client):
    app = create_app({
        "VANI_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
        "REDIS_CLIENT": redis_client,
        "SERVER_NAME": "vani.test",
        **SECRETS,
    })
    with app.app_context():
        _db.drop_all()
        _db.create_all()
        _db.session.remove()
    return app


def _truncate() -> None:
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    # DELETE is far quicker than TRUNCATE on the handful of rows a test leaves behind.
    for name in tables:
        _db.session.execute(text(f"DELETE FROM {name}"))
    _db.session.commit()


@pytest.fixture
def app(_app, redis_client):
    """The app with empty tables (but the default organisation, in force), an empty Redis
    database and default (test) settings."""
    from vani import orgs, tenancy
    from vani.extensions import redis_ext
    from vani.orgs import secrets

    saved = dict(_app.config)
    redis_client.flushdb()
    redis_ext.reset()
    secrets.forget_cached_secrets()
    orgs.forget_cache()
    with _app.app_context():
        _truncate()
        tenancy.set_current(orgs.ensure_default().id)
        _db.session.remove()
        yield _app
        _db.session.remove()
    _app.config.clear()
    _app.config.update(saved)
    from vani.egress import aio

    aio.reset()  # no kept-alive connection to this test's receivers is offered to the next test


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def fresh_database_url(_app, tmp_path: Path):
    """An empty database of the same kind as the test database."""
    url = make_url(_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"vani_migr_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def run_worker(app, redis_client):
    """Run a real RQ worker in burst mode until the queues are empty; returns how many jobs ran."""
    from tests.work.helpers import PromptWorker
    from vani.work.workers import all_queues

    class CountingWorker(PromptWorker):
        jobs_run = 0

        def execute_job(self, job, queue):
            CountingWorker.jobs_run += 1
            return super().execute_job(job, queue)

    def run() -> int:
        from vani import tenancy

        CountingWorker.jobs_run = 0
        with tenancy.acting_for(None):  # as in a worker process: no organisation in force
            CountingWorker(all_queues(), connection=redis_client).work(burst=True)
        _db.session.remove()
        return CountingWorker.jobs_run

    return run


@pytest.fixture
def api_token(app):
    from vani.accounts.tokens import create_token

    return create_token("tests", ["admin"])[1]


@pytest.fixture
def api(client, api_token):
    """A test client that sends the bearer token."""

    class Api:
        def _call(self, method, url, headers=None, **kw):
            return client.open(url, method=method, headers={"Authorization": f"Bearer {api_token}", **(headers or {})},
                               **kw)

        def get(self, url, **kw):
            return self._call("GET", url, **kw)

        def post(self, url, **kw):
            return self._call("POST", url, **kw)

        def patch(self, url, **kw):
            return self._call("PATCH", url, **kw)

        def delete(self, url, **kw):
            return self._call("DELETE", url, **kw)

    return Api()


# --- dashboard -------------------------------------------------------------------------------

@pytest.fixture
def make_user(app):
    """Create a dashboard user with a role in an organisation (the one in force unless
    ``org_id`` is given): ``make_user("staff")`` → User (password "password-123")."""
    from vani import tenancy
    from vani.models import Membership, User

    def make(role: str = "admin", email: str | None = None, password: str = "password-123", active: bool = True,
             org_id: int | None = None, superuser: bool = False):
        user = User(email=email or f"{role}@example.com", active=active, is_superuser=superuser)
        user.set_password(password)
        _db.session.add(user)
        _db.session.flush()
        _db.session.add(Membership(user_id=user.id, org_id=org_id or tenancy.require(), role=role))
        _db.session.commit()
        return user

    return make


@pytest.fixture
def login(app, make_user):
    """``login(role)`` → a test client signed in as a new user of that role; ``.csrf`` holds its token."""

    def sign_in(role: str = "admin", client=None, org_id: int | None = None):
        client = client or fresh_client(app)
        sign_in.count += 1
        user = make_user(role, email=f"{role}-{sign_in.count}@example.com", org_id=org_id)
        token = csrf_token_from(client)
        r = client.post("/dashboard/login", data={"email": user.email, "password": "password-123",
                                                  "csrf_token": token})
        assert r.status_code == 302, r.get_data(as_text=True)
        client.csrf = csrf_token_from(client, "/dashboard/")
        client.user = user
        return client

    sign_in.count = 0
    return sign_in


@pytest.fixture
def live_server(app):
    """The app on a real HTTP server in a thread, on a free loopback port; yields its base URL."""
    import threading

    from werkzeug.serving import make_server

    app.config["SERVER_NAME"] = None  # answer on 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def dns(monkeypatch):
    """A resolver the test controls: ``dns["name.test"] = "10.0.0.5"`` makes that name resolve
    there (IPv4 or IPv6); any other ``.test`` name does not resolve."""
    import socket

    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in table:
            ip = table[host]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            addr = (ip, port or 0, 0, 0) if family == socket.AF_INET6 else (ip, port or 0)
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)]
        if str(host).endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table
