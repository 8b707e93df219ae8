"""Heartbeats: a process's row is written at start and kept fresh by a thread with its own
connections, survives a database outage (logged once), says whether the process leads, goes on a
clean stop, and the daily cleanup removes rows silent for a day."""
from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

from sqlalchemy import create_engine, select

from vani import retention
from vani.extensions import db
from vani.models import ProcessHeartbeat, ProcessRole
from vani.models.base import as_utc, utcnow
from vani.version import __version__
from vani.work import heartbeat
from vani.work.heartbeat import Heartbeat


def rows() -> list[ProcessHeartbeat]:
    db.session.expire_all()
    found = list(db.session.execute(select(ProcessHeartbeat).order_by(ProcessHeartbeat.id)).scalars())
    db.session.rollback()
    return found


def test_a_running_process_keeps_a_fresh_row_and_removes_it_when_it_stops(app):
    app.config["VANI_HEARTBEAT_SECONDS"] = 0.05
    with heartbeat.running(ProcessRole.WORKER, ["vani-events"]):
        [row] = rows()
        assert (row.role, row.pid, row.lanes, row.version, row.leading) == (
            ProcessRole.WORKER, os.getpid(), ["vani-events"], __version__, None)
        first = as_utc(row.last_beat)
        deadline = time.monotonic() + 10
        while as_utc(rows()[0].last_beat) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert as_utc(rows()[0].last_beat) > first, "the thread never beat again"
    assert rows() == []


def test_beat_says_whether_the_process_leads(app):
    assert heartbeat.beat(leading=True) is False  # no heartbeat in this process: nothing written
    assert rows() == []
    with heartbeat.running(ProcessRole.SCHEDULER):
        assert rows()[0].leading is None
        assert heartbeat.beat(leading=True) is True
        assert rows()[0].leading is True
        heartbeat.beat()  # a plain beat keeps what was said
        assert rows()[0].leading is True
        heartbeat.beat(leading=False)
        assert rows()[0].leading is False


def test_a_row_removed_meanwhile_comes_back_on_the_next_beat(app):
    heart = Heartbeat(db.engine, ProcessRole.MAIL_WATCHER, [], 10)
    heart.write()
    retention.cleanup(now=utcnow() + timedelta(days=2))  # as if it had been silent for two days
    assert rows() == []
    assert heart.write() is True
    assert [r.role for r in rows()] == [ProcessRole.MAIL_WATCHER]


def test_a_database_outage_is_logged_once_and_waited_out(app, tmp_path, caplog):
    unreachable = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    heart = Heartbeat(unreachable, ProcessRole.WORKER, [], 10)
    with caplog.at_level(logging.INFO, logger="vani.work.heartbeat"):
        assert [heart.write() for _ in range(3)] == [False, False, False]
        heart.engine = db.engine  # the database is back
        assert heart.write() is True
    messages = [r.getMessage() for r in caplog.records if r.name == "vani.work.heartbeat"]
    assert len([m for m in messages if "unreachable" in m]) == 1
    assert messages[-1] == "heartbeat: the database is back"
    assert len(rows()) == 1


def test_the_daily_cleanup_removes_rows_silent_for_a_day(app):
    now = utcnow()
    for pid, ago in ((1, timedelta(days=1, minutes=1)), (2, timedelta(hours=23)), (3, timedelta(seconds=5))):
        db.session.add(ProcessHeartbeat(role=ProcessRole.WORKER, host="h", pid=pid, lanes=[], version="1",
                                        started_at=now - ago, last_beat=now - ago))
    db.session.commit()
    assert retention.cleanup(now=now)["silent_processes"] == 1
    assert [r.pid for r in rows()] == [2, 3]


def test_the_scheduler_says_in_its_heartbeat_whether_it_leads(app, tmp_path):
    import threading

    from vani.work.leadership import Locks
    from vani.work.scheduler import run_scheduler

    stop = threading.Event()
    locks = Locks(app.config["SQLALCHEMY_DATABASE_URI"])

    def scheduler():
        with app.app_context():
            run_scheduler([], stop, locks)

    with heartbeat.running(ProcessRole.SCHEDULER, []):
        thread = threading.Thread(target=scheduler, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not any(p.leading for p in heartbeat.processes()):
            assert time.monotonic() < deadline, "the scheduler never said it leads"
            time.sleep(0.05)
        stop.set()
        thread.join(15)
        assert not thread.is_alive()
        assert [p.leading for p in heartbeat.processes()] == [False]  # it stopped leading
