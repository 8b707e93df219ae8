"""Leadership between copies of a process: one holder per name, a name freed when its holder
resigns, closes or loses its connection, and a holder that knows at once when it lost the lead."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import make_url, text

from vani.work import leadership
from vani.work.leadership import Locks


@pytest.fixture
def url(app):
    return app.config["SQLALCHEMY_DATABASE_URI"]


@pytest.fixture
def copies(url):
    """Two copies' locks on the test database (each its own connection, or its own lock files)."""
    made = [Locks(url), Locks(url)]
    yield made
    for locks in made:
        locks.close()


def on_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def test_a_name_has_a_stable_signed_64_bit_key():
    assert leadership.key("vani-scheduler") == leadership.key("vani-scheduler")
    assert leadership.key("vani-scheduler") != leadership.key("vani-mail-watch:1")
    assert all(-2**63 <= leadership.key(f"name-{n}") < 2**63 for n in range(200))
    assert any(leadership.key(f"name-{n}") < 0 for n in range(200))  # the whole signed range is used
    # the first 8 bytes of sha256("vani-scheduler"), 02ec75c0e1d16742: copies of any version agree
    assert leadership.key("vani-scheduler") == 0x02EC75C0E1D16742


def test_one_copy_leads_and_the_other_takes_over_when_it_resigns(copies):
    first, second = copies
    assert first.try_lead("vani-scheduler") and first.holds("vani-scheduler")
    assert not second.try_lead("vani-scheduler") and not second.holds("vani-scheduler")
    assert first.try_lead("vani-scheduler")  # asking again while leading changes nothing
    first.resign("vani-scheduler")
    assert not first.holds("vani-scheduler")
    assert second.try_lead("vani-scheduler") and second.holds("vani-scheduler")
    assert not first.try_lead("vani-scheduler")


def test_closing_a_copy_frees_every_name_it_held(copies):
    first, second = copies
    assert first.try_lead_many(["a", "b", "c"]) == {"a", "b", "c"}
    assert second.try_lead_many(["b", "c", "d"]) == {"d"}
    first.close()
    assert second.try_lead_many(["a", "b", "c", "d"]) == {"a", "b", "c", "d"}
    assert second.verify() == {"a", "b", "c", "d"}


def test_a_copy_whose_connection_dies_stops_leading_at_once_and_leads_again_later(app, db, copies, url):
    if not on_postgres(url):
        pytest.skip("the lock lives on a PostgreSQL connection")
    first, second = copies
    assert first.try_lead("vani-scheduler")
    pid = first._backend.conn.info.backend_pid
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})  # as when the link fails
    db.session.commit()
    assert not first.holds("vani-scheduler") and first.verify() == set()
    assert second.try_lead("vani-scheduler")  # the server freed the lock with the session
    second.resign("vani-scheduler")
    assert first.try_lead("vani-scheduler")  # a new connection
    assert first._backend.conn.info.backend_pid != pid


def test_the_leadership_connection_detects_a_silent_peer(copies, url):
    if not on_postgres(url):
        pytest.skip("keepalives are settings of the PostgreSQL connection")
    first, _ = copies
    assert first.try_lead("vani-scheduler")
    conn = first._backend.conn
    server = {name: conn.execute(f"SHOW {name}").fetchone()[0]
              for name in ("tcp_keepalives_idle", "tcp_user_timeout", "idle_session_timeout")}
    assert server == {"tcp_keepalives_idle": "5", "tcp_user_timeout": "10000", "idle_session_timeout": "0"}
    assert conn.info.get_parameters().get("application_name") == "vani-leadership"


def test_copies_of_a_group_count_each_other(copies, url):
    first, second = copies
    if not on_postgres(url):
        assert first.members("watchers") == 1  # one machine: nothing to share out
        return
    assert first.members("watchers") == 1
    assert second.members("watchers") == 2 and first.members("watchers") == 2
    second.close()
    assert first.members("watchers") == 1


def test_follow_calls_lead_while_leading_and_follows_after_losing_it(copies):
    first, second = copies
    assert second.try_lead("job")
    stop, terms = threading.Event(), []

    def lead():
        terms.append(first.holds("job"))
        stop.set()

    runner = threading.Thread(target=leadership.follow, args=(first, "job", stop, lead), kwargs={"poll": 0.05})
    runner.start()
    second.resign("job")  # the other copy goes: ``first`` leads within a poll
    runner.join(10)
    assert not runner.is_alive() and terms == [True]
    assert not first.holds("job")  # resigned when its term ended
