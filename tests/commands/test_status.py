"""``flask vani status``: the processes from their heartbeat rows, silent ones flagged, and exit
status 1 when no worker or no scheduler is alive."""
from __future__ import annotations

import os
from datetime import timedelta

from vani.extensions import db
from vani.models import ProcessHeartbeat, ProcessRole
from vani.models.base import utcnow
from vani.version import __version__
from vani.work.heartbeat import Heartbeat


def run(app, *args):
    return app.test_cli_runner().invoke(args=["vani", "status", *args])


def alive(role: ProcessRole, lanes=(), leading=None) -> Heartbeat:
    """A process's heartbeat as the process writes it (no thread: one beat)."""
    heart = Heartbeat(db.engine, role, list(lanes), 10, leading=leading)
    heart.write()
    return heart


def killed(role: ProcessRole, beat_ago: timedelta, pid: int = 4242) -> None:
    """The row a killed process leaves: its last beat ``beat_ago``."""
    db.session.add(ProcessHeartbeat(role=role, host="gone.example", pid=pid, lanes=[], version="0.0.9",
                                    started_at=utcnow() - beat_ago - timedelta(hours=1),
                                    last_beat=utcnow() - beat_ago))
    db.session.commit()


def test_lists_the_live_processes_and_exits_0_with_a_worker_and_a_scheduler(app):
    app.config["VANI_HEARTBEAT_SECONDS"] = 10
    alive(ProcessRole.WORKER, ["vani-events", "vani-deliveries"])
    alive(ProcessRole.SCHEDULER, leading=True)
    alive(ProcessRole.MAIL_WATCHER, leading=False)
    result = run(app)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ROLE", "HOST", "PID", "VERSION", "LAST", "BEAT", "LEADING", "LANES"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"worker", "scheduler", "mail_watcher"}
    pid = str(os.getpid())
    assert rows["worker"][2:4] == [pid, __version__] and rows["worker"][-1] == "vani-events,vani-deliveries"
    assert rows["scheduler"][-2:] == ["yes", "-"] and rows["mail_watcher"][-2:] == ["no", "-"]
    assert rows["worker"][-2] == "-"  # a worker is never elected
    assert "SILENT" not in result.output


def test_a_silent_process_is_flagged_and_a_missing_role_exits_1(app):
    app.config["VANI_HEARTBEAT_SECONDS"] = 10
    alive(ProcessRole.SCHEDULER)
    killed(ProcessRole.WORKER, timedelta(seconds=31))  # three intervals and a second
    result = run(app)
    assert result.exit_code == 1
    [worker] = [line for line in result.output.splitlines() if line.startswith("worker")]
    assert "4242" in worker and worker.endswith("SILENT") and "31 s ago" in worker
    assert "1 silent: no heartbeat for over 30 s" in result.output
    assert "no live worker" in result.output and "no live scheduler" not in result.output


def test_a_row_younger_than_three_intervals_is_alive(app):
    app.config["VANI_HEARTBEAT_SECONDS"] = 10
    killed(ProcessRole.WORKER, timedelta(seconds=25))
    killed(ProcessRole.SCHEDULER, timedelta(seconds=2), pid=4343)
    result = run(app)
    assert result.exit_code == 0, result.output
    assert "SILENT" not in result.output


def test_nothing_running_exits_1_naming_both_roles(app):
    result = run(app)
    assert result.exit_code == 1
    assert "no live worker" in result.output and "no live scheduler" in result.output
