"""Two ``flask db upgrade`` at once (two hosts upgrading together, or a release step run twice)
cannot interleave: on PostgreSQL the migrations take an advisory lock, so both exit 0 and the
schema is the models' exactly."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text

from tests.paths import MIGRATIONS, ROOT
from vani.extensions import db


def test_two_upgrades_at_once_both_succeed_and_build_the_schema_once(fresh_database_url):
    if make_url(fresh_database_url).get_backend_name() != "postgresql":
        pytest.skip("the migration lock is PostgreSQL's (SQLite databases are upgraded by one process)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VANI_ENV": "testing", "DATABASE_URL": fresh_database_url,
           "REDIS_URL": "redis://127.0.0.1:1/0"}
    upgrades = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0].decode(errors="replace") for p in upgrades]
    assert [p.returncode for p in upgrades] == [0, 0], "\n".join(outputs)
    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == \
                ScriptDirectory.from_config(cfg).get_heads()
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        engine.dispose()
