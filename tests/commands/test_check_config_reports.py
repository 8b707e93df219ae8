"""`flask vani check-config` reports in the situations it exists for: a production configuration
with errors (which stops every other process), and secrets stored for any organisation."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT
from vani import orgs, tenancy

FLASK = str(Path(sys.executable).with_name("flask"))


def run_flask(tmp_path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """``flask --app run ARGS`` in a fresh process, with a production environment and nothing else."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VANI_ENV": "production",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'vani.db'}", "REDIS_URL": "redis://127.0.0.1:9/0", **settings}
    return subprocess.run([FLASK, "--app", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_check_config_reports_what_stops_production(tmp_path):
    result = run_flask(tmp_path, "vani", "check-config", SECRET_KEY="short")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "SECRET_KEY is missing, the built-in default or shorter than 32 characters" in result.stdout
    assert "VANI_ENCRYPTION_KEYS is not set" in result.stdout
    assert "the database is SQLite" in result.stdout
    assert "error(s)" in result.stdout.splitlines()[-1]


def test_every_other_command_still_refuses_to_start(tmp_path):
    result = run_flask(tmp_path, "routes", SECRET_KEY="short")
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr
    assert "check-config" in result.stderr  # it says where the full report is


def test_secrets_stored_for_any_organisation_count_with_none_in_force(app):
    runner = app.test_cli_runner()
    app.config.update(CALENDLY_WEBHOOK_SIGNING_KEY=None, CAL_COM_WEBHOOK_SECRET=None)
    orgs.create("Acme Sales", slug="acme")
    for args in (["calendly", "c" * 40], ["cal-com", "k" * 40, "--org", "acme"]):
        stored = runner.invoke(args=["vani", "webhooks", "set-secret", *args])
        assert stored.exit_code == 0, stored.output
    with tenancy.acting_for(None):  # as in `flask vani check-config`: no organisation in force
        output = runner.invoke(args=["vani", "check-config", "--skip", "kapso", "--skip", "twilio",
                                     "--skip", "gmail"]).output
    assert "Calendly: webhook secret configured (stored for default)" in output
    assert "Cal.com: webhook secret configured (stored for acme)" in output
    assert "no webhook secret" not in output


def test_only_check_config_is_let_start_unsafe():
    from vani.config_checks import reporting

    assert reporting(["flask", "--app", "run", "vani", "check-config", "--skip", "kapso"])
    for argv in (["flask", "--app", "run", "vani", "worker"], ["gunicorn", "-c", "gunicorn.conf.py", "run:app"],
                 ["flask", "--app", "run", "vani", "webhooks", "set-secret", "kapso", "check-config"]):
        assert not reporting(argv), argv
