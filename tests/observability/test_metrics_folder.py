"""The host's metrics folder is created when a process starts and emptied when the first of the
host's processes starts, never while another one runs (its totals would drop)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PREPARE = "from vani import metrics_folder; print(metrics_folder.prepare(), flush=True)"
HOLD = PREPARE + "\nimport sys; sys.stdin.read()"  # runs until its stdin closes


def prepare(folder) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    return subprocess.run([sys.executable, "-c", PREPARE], env=env, check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def stale_files(folder) -> None:
    for name in ("counter_101.db", "histogram_101.db", "gauge_livesum_101.db"):
        (folder / name).write_bytes(b"\0" * 8)


def test_the_folder_is_created_when_missing(tmp_path):
    folder = tmp_path / "run" / "metrics"
    assert prepare(folder) == "True" and folder.is_dir()


def test_the_first_process_of_the_host_empties_it(tmp_path):
    stale_files(tmp_path)
    (tmp_path / "notes.txt").write_text("not a metrics file")
    assert prepare(tmp_path) == "True"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".processes.lock", "notes.txt"]


def test_while_a_process_runs_a_new_one_leaves_every_file(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    running = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert running.stdout.readline().strip() == "True"
        stale_files(tmp_path)
        assert prepare(tmp_path) == "False"
        assert len(list(tmp_path.glob("*.db"))) == 3
    finally:
        running.stdin.close()
        running.wait(timeout=30)
    assert prepare(tmp_path) == "True" and not list(tmp_path.glob("*.db"))


def test_a_forked_child_keeps_the_host_busy_after_its_parent_exits(tmp_path):
    """A work horse or a gunicorn worker inherits the lock: the host is not idle while it runs."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    script = PREPARE + textwrap.dedent("""
        import os, sys
        if os.fork() == 0:
            sys.stdin.read()
            os._exit(0)
        os._exit(0)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "True"
        parent.wait(timeout=30)
        stale_files(tmp_path)
        assert prepare(tmp_path) == "False"
    finally:
        parent.stdin.close()
