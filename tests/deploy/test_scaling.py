"""Settings for a deployment of many hosts: the database pool's size, PgBouncer's transaction
mode (no prepared statements), and Redis through Sentinel for every use of Redis."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import redis
from rq import Queue
from sqlalchemy import text

from config import Config
from tests.network import free_tcp_port
from tests.work.helpers import PromptWorker

PG = (os.environ.get("DATABASE_URL") or "").startswith(("postgres://", "postgresql"))


def config_with(monkeypatch, **env) -> Config:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Config.from_env("testing")


def test_the_pool_is_sized_by_the_settings(monkeypatch):
    options = config_with(monkeypatch, DATABASE_URL="postgresql://vani@db.internal/vani", VANI_DB_POOL_SIZE="3",
                          VANI_DB_MAX_OVERFLOW="2", VANI_DB_POOL_TIMEOUT="4.5").SQLALCHEMY_ENGINE_OPTIONS
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (3, 2, 4.5)
    assert "connect_args" not in options  # prepared statements stay on without PgBouncer


def test_sqlite_keeps_its_own_pool(monkeypatch):
    options = config_with(monkeypatch, DATABASE_URL="sqlite:///vani.db", VANI_DB_POOL_SIZE="3").SQLALCHEMY_ENGINE_OPTIONS
    assert "pool_size" not in options


def test_behind_pgbouncer_prepared_statements_are_off(monkeypatch):
    options = config_with(monkeypatch, DATABASE_URL="postgresql://vani@pgbouncer.internal:6432/vani",
                          VANI_PGBOUNCER="1").SQLALCHEMY_ENGINE_OPTIONS
    assert options["connect_args"] == {"prepare_threshold": None}


@pytest.mark.skipif(not PG, reason="PostgreSQL only")
def test_a_full_pool_waits_only_the_pool_timeout(monkeypatch, tmp_path):
    """Two connections at most: the third caller is refused after the timeout, not held forever."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from vani import create_app
    from vani.extensions import db

    config_with(monkeypatch, VANI_DB_POOL_SIZE="1", VANI_DB_MAX_OVERFLOW="1", VANI_DB_POOL_TIMEOUT="0.2",
                VANI_PGBOUNCER="1")
    app = create_app({"VANI_ENV": "testing", "REDIS_CLIENT": None})
    with app.app_context():
        held = [db.engine.connect() for _ in range(2)]
        try:
            with pytest.raises(PoolTimeout):
                db.engine.connect()
            for _ in range(8):  # psycopg prepares a statement on its 5th run unless told not to
                held[0].execute(text("SELECT 1")).scalar_one()
            assert held[0].connection.dbapi_connection.prepare_threshold is None
        finally:
            for conn in held:
                conn.close()
            db.engine.dispose()


@pytest.fixture
def sentinel(tmp_path):
    """A Redis master and a Sentinel that watches it, on loopback ports of their own."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    master_port, sentinel_port = free_tcp_port(), free_tcp_port()
    master = subprocess.Popen(["redis-server", "--port", str(master_port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--requirepass", "s3cret", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor vani-main 127.0.0.1 {master_port} 1\n"
                    "sentinel auth-pass vani-main s3cret\n")
    watcher = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                named = redis.Redis(port=sentinel_port).sentinel_get_master_addr_by_name("vani-main")
                if named:
                    break
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the sentinel did not come up"
            time.sleep(0.1)
        yield sentinel_port, master_port
    finally:
        for process in (watcher, master):
            process.terminate()
            process.wait(timeout=10)


def test_every_redis_use_goes_through_sentinel(monkeypatch, sentinel):
    from vani import create_app
    from vani.extensions import redis_ext

    sentinel_port, master_port = sentinel
    config_with(monkeypatch, REDIS_URL="redis://:s3cret@unused.invalid:1/3",
                REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}", REDIS_SENTINEL_MASTER="vani-main")
    app = create_app({"VANI_ENV": "testing"})
    with app.app_context():
        client = redis_ext.client
        client.set("vani-check", "1")
        queue = Queue("vani-events", connection=client)
        job = queue.enqueue(len, "four")
        PromptWorker([queue], connection=client).work(burst=True)
        assert job.refresh() is None and job.return_value() == 4
        listener = client.pubsub()
        listener.subscribe("vani-live")
        listener.get_message(timeout=2)
        client.publish("vani-live", "hello")
        message = listener.get_message(timeout=2)
        listener.close()
    assert message and message["data"] == b"hello"
    direct = redis.Redis(port=master_port, password="s3cret", db=3)
    assert direct.get("vani-check") == b"1"  # the master Sentinel named, database 3 of REDIS_URL


@pytest.mark.parametrize("given", ["sentinel.internal", "sentinel.internal:port", ":26379"])
def test_a_malformed_sentinel_list_is_refused_with_its_reason(given):
    from vani.extensions import sentinel_client

    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        sentinel_client({"REDIS_SENTINELS": given, "REDIS_URL": "redis://localhost/0",
                         "REDIS_SENTINEL_MASTER": "m"}, {"socket_connect_timeout": 1, "socket_timeout": 1})


def test_the_pool_suits_the_database_the_app_finally_uses(monkeypatch, tmp_path):
    """A PostgreSQL DATABASE_URL in the environment, and the app given a SQLite file: no
    PostgreSQL pool settings reach the SQLite engine."""
    from vani import create_app
    from vani.extensions import db

    config_with(monkeypatch, DATABASE_URL="postgresql://vani@db.internal/vani", VANI_DB_POOL_SIZE="3")
    app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'v.db'}"})
    assert "pool_size" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with app.app_context():
        assert db.session.execute(text("SELECT 1")).scalar_one() == 1
