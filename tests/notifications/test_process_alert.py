"""A worker, scheduler or mail watcher that stops beating (killed, its host gone) raises the
quiet-process alert to the admins, once per process, with the other live ones of its kind counted."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from tests.notifications.helpers import smtp_server
from vani.extensions import db as _db
from vani.models import Notification, ProcessHeartbeat, ProcessRole
from vani.models.base import utcnow
from vani.notifications import alerts
from vani.notifications.render import render

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def smtp(app):
    with smtp_server(app) as inbox:
        yield inbox


def process(role: ProcessRole, host: str, pid: int, beat_ago: timedelta) -> None:
    _db.session.execute(insert(ProcessHeartbeat).values(
        role=role, host=host, pid=pid, lanes=[], version="1.0", started_at=NOW - timedelta(hours=1),
        last_beat=NOW - beat_ago))
    _db.session.commit()


def raised() -> list[Notification]:
    _db.session.expire_all()
    return list(_db.session.execute(select(Notification).where(Notification.kind == "alert.process_quiet")
                                    .order_by(Notification.id)).scalars())


def test_a_killed_process_raises_the_alert_once(app, make_user, run_worker, smtp):
    app.config["VANI_HEARTBEAT_SECONDS"] = 2
    make_user("admin", email="boss@example.com")
    process(ProcessRole.WORKER, "host-a", 101, timedelta(minutes=2))    # killed
    process(ProcessRole.WORKER, "host-b", 202, timedelta(seconds=1))    # alive
    process(ProcessRole.SCHEDULER, "host-a", 103, timedelta(seconds=5))  # two beats late: not yet silent
    assert alerts.check(NOW)["process_quiet"] == 1
    assert alerts.check(NOW)["process_quiet"] == 0  # the same incident: raised once
    (n,) = raised()
    assert n.data["role"] == "worker" and n.data["host"] == "host-a" and n.data["pid"] == 101
    assert n.data["live_of_role"] == 1
    shown = render(n)
    assert shown.link is None or shown.link.endswith("/dashboard/processes")
    assert "worker on host-a (pid 101)" in shown.summary and "1 other live one(s) carry on" in shown.summary
    run_worker()
    assert [to for to, _ in smtp.messages] == [["boss@example.com"]]


def test_the_last_of_its_kind_says_that_work_waits(app, make_user):
    app.config["VANI_HEARTBEAT_SECONDS"] = 2
    make_user("admin", email="boss@example.com")
    process(ProcessRole.SCHEDULER, "host-a", 103, timedelta(seconds=30))
    assert alerts.check(NOW)["process_quiet"] == 1
    (n,) = raised()
    assert n.data["live_of_role"] == 0 and "work waits until one starts" in render(n).summary


def test_live_processes_raise_nothing(app, make_user):
    make_user("admin", email="boss@example.com")
    process(ProcessRole.WORKER, "host-b", 202, timedelta(seconds=1))
    assert alerts.check(NOW)["process_quiet"] == 0 and raised() == []
