"""The scheduler with any number of copies: one leads (sweeps and queues the cron jobs), a job is
queued once per period whichever copy queues it, a copy that loses the lead stops at once, and when
the leader is killed another copy leads within seconds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.cron import CronScheduler, get_cron_job_history_key

from tests.deploy.services import Processes, wait_for
from tests.work import scheduler_copy
from tests.work.helpers import redis_server
from vani.work import scheduler
from vani.work.scheduler import CronEntry, Leader, build_cron, catch_up, queue_due
from vani.work.wake import MAINTENANCE_QUEUE

ROOT = Path(__file__).resolve().parents[2]


def every_ten_minutes() -> None:
    """A cron entry's job (never run here: the tests count what is queued)."""


def queued(redis_client) -> int:
    return Queue(MAINTENANCE_QUEUE, connection=redis_client).count


def copy(redis_client, entry: CronEntry, name: str):
    """One scheduler copy's RQ cron, as a new leader builds it."""
    return build_cron(redis_client, [entry], name=name)


def test_a_new_leader_does_not_queue_again_what_the_old_one_queued_this_period(app, redis_client):
    entry = CronEntry(every_ten_minutes, interval=600)
    old, new = copy(redis_client, entry, "old"), copy(redis_client, entry, "new")
    now = datetime.now(timezone.utc)
    assert [j.name for j in queue_due(old, redis_client, now)] == [old.get_jobs()[0].name]
    assert queue_due(new, redis_client, now) == []  # RQ alone would queue it at once
    assert queued(redis_client) == 1
    boundary = datetime.fromtimestamp((int(now.timestamp()) // 600 + 1) * 600, timezone.utc)
    assert new.get_jobs()[0].next_enqueue_time == old.get_jobs()[0].next_enqueue_time == boundary


def test_each_later_period_is_queued_once_by_whichever_copy_is_first(app, redis_client, monkeypatch):
    entry = CronEntry(every_ten_minutes, interval=600)
    copies = [copy(redis_client, entry, "a"), copy(redis_client, entry, "b")]
    now = datetime.now(timezone.utc)
    for cron in copies:
        queue_due(cron, redis_client, now)
    for period in range(1, 4):
        later = now + timedelta(seconds=600 * period)
        monkeypatch.setattr("rq.cron.now", lambda later=later: later)
        assert sum(len(queue_due(cron, redis_client, later)) for cron in reversed(copies)) == 1
    assert queued(redis_client) == 4


def test_a_cron_slot_missed_during_a_hand_over_is_queued_once(app, redis_client):
    entry = CronEntry(every_ten_minutes, cron="*/5 * * * *")  # a slot in the last 5 minutes, always
    now = datetime.now(timezone.utc)
    first = copy(redis_client, entry, "first")
    assert queue_due(first, redis_client, now) == []  # RQ waits for the next slot ...
    catch_up(first, now)
    assert len(queue_due(first, redis_client, now)) == 1  # ... a new leader takes the last one
    second = copy(redis_client, entry, "second")
    catch_up(second, now)
    assert queue_due(second, redis_client, now) == []  # queued by the first already
    assert queued(redis_client) == 1
    assert first.get_jobs()[0].next_enqueue_time > now and second.get_jobs()[0].next_enqueue_time > now


class Lead:
    """Locks that answer ``holds`` from a script: the lead as the database reports it."""

    def __init__(self, *answers: bool):
        self.answers = list(answers)

    def holds(self, name: str) -> bool:
        return self.answers.pop(0) if self.answers else False


def test_a_leader_that_lost_the_lead_queues_nothing_more(app, redis_client):
    stop = threading.Event()
    Leader([CronEntry(every_ten_minutes, interval=600)], Lead(True, False), stop)()
    assert queued(redis_client) == 0  # it learned before queueing that another copy may lead
    Leader([CronEntry(every_ten_minutes, interval=600)], Lead(True, True), stop)()
    assert queued(redis_client) == 1


@pytest.mark.slow
def test_two_scheduler_copies_one_leads_and_the_other_takes_over_a_killed_leader(app, tmp_path):
    with redis_server(tmp_path / "redis") as url:
        client = redis.Redis.from_url(url)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VANI_ENV": "testing", "REDIS_URL": url,
               "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "VANI_SWEEP_SECONDS": "1"}
        processes = Processes(tmp_path / "logs")
        copies = {name: processes.start(name, [sys.executable, "-m", "tests.work.scheduler_copy"], env, ROOT)
                  for name in ("a", "b")}
        try:
            leaders = lambda: {c.pid for c in CronScheduler.all(client, cleanup=False)}  # noqa: E731
            leader = wait_for(leaders, 30, "a copy leads", processes.logs)
            assert len(leader) == 1 and leader <= {p.pid for p in copies.values()}
            history = get_cron_job_history_key(f"{scheduler_copy.__name__}.tick")
            wait_for(lambda: client.zcard(history) >= 2, 30, "the leader queues the entry", processes.logs)
            [killed] = [name for name, p in copies.items() if p.pid in leader]
            [other] = [p for name, p in copies.items() if name != killed]
            os.kill(copies[killed].pid, signal.SIGKILL)
            copies[killed].wait(10)
            wait_for(lambda: other.pid in leaders(), 15, "the other copy leads", processes.logs)
            before = client.zcard(history)
            wait_for(lambda: client.zcard(history) >= before + 2, 30, "the new leader queues the entry",
                     processes.logs)
            marks = client.keys(scheduler.PERIOD_KEY.format(name=f"{scheduler_copy.__name__}.tick", period="*"))
            assert client.zcard(history) == len(marks) == queued(client), "a period was queued twice"
            assert other.poll() is None, processes.logs()
        finally:
            processes.stop_all()
            client.close()
