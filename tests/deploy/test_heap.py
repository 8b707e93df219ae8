"""Long-running processes freeze what they loaded at start (``vani.heap``), so the collector's
full passes walk only what a request or a job made. Run in a child process: freezing the test
runner's own heap would keep every later test's garbage."""
from __future__ import annotations

import subprocess
import sys

from tests.paths import ROOT

GUNICORN_WORKER = """
import gc, runpy
from vani import create_app
app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
before = gc.get_freeze_count()
runpy.run_path("gunicorn.conf.py")["post_worker_init"](None)
print(before, gc.get_freeze_count())
"""


def test_a_gunicorn_worker_freezes_the_loaded_app():
    out = subprocess.run([sys.executable, "-c", GUNICORN_WORKER], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    before, after = int(out[-2]), int(out[-1])
    assert before == 0 and after > 50_000  # modules, templates and mappers: well over 50,000 objects


def test_the_worker_command_freezes_before_it_works(app, monkeypatch):
    from vani.commands import core

    calls = []
    monkeypatch.setattr(core.heap, "settle", lambda: calls.append("settle"))
    monkeypatch.setattr(core, "run_worker", lambda *a, **k: calls.append("work"))
    result = app.test_cli_runner().invoke(args=["vani", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert calls == ["settle", "work"]
