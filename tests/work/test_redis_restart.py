"""Redis killed and restarted empty under load: the workers and the scheduler keep running,
every stored event is processed within 30 s of Redis coming back, once."""
from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select

from tests.bookings import calendly
from tests.signing import post_calendly
from tests.work.helpers import RedisServer, flask_process
from vani.extensions import db, redis_ext
from vani.models import EventStatus, Meeting, WebhookEvent

RECOVERY_GOAL = 30.0

pytestmark = pytest.mark.slow


def post_bookings(client, numbers) -> None:
    for n in numbers:
        r = post_calendly(client, calendly("invitee.created", n, email=f"r{n}@example.test"))
        assert r.status_code == 200 and r.json["status"] == "accepted", r.json


def counts() -> tuple[int, int]:
    db.session.expire_all()
    processed = db.session.execute(select(func.count()).select_from(WebhookEvent)
                                   .where(WebhookEvent.status == EventStatus.PROCESSED)).scalar_one()
    meetings = db.session.execute(select(func.count()).select_from(Meeting)).scalar_one()
    db.session.rollback()
    return processed, meetings


def test_workers_and_scheduler_ride_out_an_emptied_redis(app, client, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    fast_failing = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=1,
                                        retry=Retry(NoBackoff(), 0))
    real, app.extensions["vani_redis"] = app.extensions["vani_redis"], fast_failing
    processes = [flask_process(app, server.url, "worker", "--simple"),
                 flask_process(app, server.url, "worker", "--simple"),
                 flask_process(app, server.url, "scheduler")]
    try:
        post_bookings(client, range(0, 40))
        started = time.monotonic()
        while counts()[0] < 10 and time.monotonic() - started < 60:  # the workers are up and working
            time.sleep(0.2)
        server.kill()  # Redis dies under load ...
        redis_ext.reset()
        post_bookings(client, range(40, 80))  # ... events keep being stored meanwhile
        time.sleep(3)
        server.start()  # ... and comes back empty
        back = time.monotonic()
        redis_ext.reset()
        post_bookings(client, range(80, 120))
        while counts()[0] < 120 and time.monotonic() - back < RECOVERY_GOAL + 30:
            time.sleep(0.5)
        took = time.monotonic() - back
        assert counts() == (120, 120), f"after {took:.1f} s: {counts()}"
        assert took <= RECOVERY_GOAL, f"recovery took {took:.1f} s"
        assert [p.poll() for p in processes] == [None, None, None], "a worker or the scheduler exited"
    finally:
        app.extensions["vani_redis"] = real
        redis_ext.reset()
        for proc in processes:  # killed: how they stop is not what this test is about
            proc.kill()
        for proc in processes:
            proc.wait(15)
        server.kill()
