"""Two hosts on one machine against one PostgreSQL and one Redis, each running web, two workers, a
scheduler and a mail watcher with a metrics folder of its own; every process of host A is SIGKILLed
under load. The run is ``bench.fleet``'s (``python -m bench.fleet`` prints its timings), with a
smaller load; the settle time bounds the wait for the work after the kill.

Needs PostgreSQL (``DATABASE_URL`` or ``TEST_DATABASE_URL``), ``redis-server`` and Dovecot; skipped
without them."""
from __future__ import annotations

import os
import shutil

import pytest

from bench import fleet_run
from tests.deploy.services import scratch_database
from tests.providers.imap import dovecot as dovecot_server

dovecot = dovecot_server.dovecot  # the fixture: a throwaway Dovecot

WEBHOOKS, MAILBOXES, CLIENTS = 200, 2, 4
SETTLE_SECONDS = 30  # the product's promise: all work done within 30 s of the kill


@pytest.fixture
def postgres_server() -> str:
    """The PostgreSQL server the tests use (the fleet gets a scratch database of its own on it)."""
    server = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not server.startswith(("postgres://", "postgresql")):
        pytest.skip("two hosts share one PostgreSQL: needs DATABASE_URL or TEST_DATABASE_URL on PostgreSQL")
    if not shutil.which("redis-server"):
        pytest.skip("two hosts share one Redis: needs redis-server")
    return server


@pytest.mark.slow
def test_a_host_killed_under_load_leaves_its_work_its_cron_and_its_mailboxes_to_the_other(postgres_server, dovecot):
    with scratch_database(postgres_server) as database_url:
        f = fleet_run.run(database_url, dovecot, WEBHOOKS, clients=CLIENTS, mailboxes=MAILBOXES, settle=SETTLE_SECONDS)

    assert f.migrations == [0, 0], f.logs
    assert f.answers == {200: WEBHOOKS}  # every webhook accepted, by one web or the other
    # all work done: every event processed once, and the mailbox syncs the takeover asked for
    assert (f.remaining, f.events, f.meetings) == (0, WEBHOOKS, WEBHOOKS), f.logs
    assert f.done_after_kill is not None
    # host B's scheduler took over, and no cron job was queued twice in one period
    assert f.takeover is not None, f.logs
    assert set(f.doubles) >= {"daily_cleanup", "check_alerts"}
    assert not any(f.doubles.values()), f.doubles
    # each mailbox had one watcher connection at a time, before and after the kill, then host B's
    assert f.most_watchers == {f"sales{n}@example.com": 1 for n in range(MAILBOXES)}, f.logs
    assert f.mail_takeover is not None, f.logs
    # host B's /metrics counts what its workers did: at least every event not done when host A died
    # (the half sent after the kill, less what the other clients' requests in flight stored with host A
    # as it died, which its workers may have done; and any left of the first half)
    assert f.left_at_kill >= WEBHOOKS // 2 - (CLIENTS - 1)
    assert f.b_counted >= f.left_at_kill, f.logs
    assert f.b_restarts == 0, f.logs
    assert f.problems() == []
