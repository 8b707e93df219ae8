"""The group commit: concurrent requests share one write, each gets its own rows' results, and a
group is handed over to the workers once, whatever went wrong next to it."""
from __future__ import annotations

import threading
import time

import pytest

from vani.ingest import group_commit
from vani.ingest.group_commit import GroupCommitter


class FakeStore:
    """``write_rows`` stand-in: id = the row's ``n``; the first write waits until ``hold`` more
    requests are queued, so the next group is known in advance."""

    def __init__(self, committer: GroupCommitter, hold: int, bad: int | None = None):
        self.committer, self.hold, self.bad = committer, hold, bad
        self.writes: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, rows: list[dict]) -> list[tuple[int, bool]]:
        with self.lock:
            first = not self.writes
            self.writes.append([row["n"] for row in rows])
        if first:
            for _ in range(2000):  # bounded: the other requests queue in well under that
                if len(self.committer._pending) >= self.hold:
                    break
                time.sleep(0.005)
        if self.bad is not None and any(row["n"] == self.bad for row in rows):
            raise ValueError("refused row")
        return [(row["n"], row["n"] % 2 == 0) for row in rows]


def run(committer: GroupCommitter, store: FakeStore, count: int, push) -> dict[int, group_commit.Slot]:
    """``count`` requests, one row each: request 0 writes alone while the others queue."""
    slots: dict[int, group_commit.Slot] = {}

    def submit(n: int):
        slots[n] = committer.submit([{"n": n, "org_id": 1}], push)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(count)]
    threads[0].start()
    for _ in range(2000):  # bounded: until request 0 is writing
        if store.writes:
            break
        time.sleep(0.005)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return slots


def test_requests_queued_during_a_write_share_the_next_one(monkeypatch):
    committer = GroupCommitter()
    store = FakeStore(committer, hold=9)
    monkeypatch.setattr(group_commit, "write_rows", store)
    groups: list[list[int]] = []
    slots = run(committer, store, 10, lambda group: groups.append([s.rows[0]["n"] for s in group]) or True)
    assert store.writes[0] == [0] and sorted(store.writes[1]) == list(range(1, 10)) and len(store.writes) == 2
    assert sorted(map(sorted, groups)) == [[0], list(range(1, 10))]  # one hand-over per group
    for n, slot in slots.items():
        assert slot.settled and slot.error is None and slot.pushed
        assert slot.results == [(n, n % 2 == 0)]  # its own row's id, not a neighbour's


def test_a_refused_row_fails_its_own_request_only(monkeypatch):
    committer = GroupCommitter()
    store = FakeStore(committer, hold=5, bad=3)
    monkeypatch.setattr(group_commit, "write_rows", store)
    slots = run(committer, store, 6, lambda group: True)
    assert isinstance(slots[3].error, ValueError) and slots[3].results is None
    assert all(slots[n].results == [(n, n % 2 == 0)] and slots[n].error is None for n in (0, 1, 2, 4, 5))
    assert all(slot.settled for slot in slots.values())


def test_a_failed_hand_over_keeps_the_rows_and_says_so(monkeypatch):
    committer = GroupCommitter()
    store = FakeStore(committer, hold=3)
    monkeypatch.setattr(group_commit, "write_rows", store)

    def push(group):
        raise ConnectionError("redis went away")

    slots = run(committer, store, 4, push)
    assert all(s.results == [(n, n % 2 == 0)] and s.pushed is False for n, s in slots.items())


def test_an_interrupted_write_settles_every_waiting_request(monkeypatch):
    committer = GroupCommitter()

    def interrupted(rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(group_commit, "write_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        committer.submit([{"n": 1, "org_id": 1}], lambda group: True)
    assert committer._writing is False and committer._pending == []
    monkeypatch.setattr(group_commit, "write_rows", lambda rows: [(7, True)])
    assert committer.submit([{"n": 7, "org_id": 1}], lambda group: True).results == [(7, True)]  # the next one writes


def test_an_unreachable_database_fails_the_group_at_once(monkeypatch):
    """A refused connection refuses every row alike: the group is not retried request by request
    (each retry would wait the pool's timeout again while every other call queues)."""
    import psycopg

    committer = GroupCommitter()
    store = FakeStore(committer, hold=5)
    writes = []

    def down(rows):
        writes.append(len(rows))
        if len(writes) == 1:
            return store(rows)  # request 0 alone, while the others queue
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(group_commit, "write_rows", down)
    slots = run(committer, store, 6, lambda group: True)
    assert writes == [1, 5, 5]  # the group of five tried again once (a dropped connection), not per request
    assert all(isinstance(slots[n].error, psycopg.OperationalError) and slots[n].settled for n in range(1, 6))
    assert slots[0].error is None


def test_a_dropped_connection_is_written_again_on_a_fresh_one(monkeypatch):
    import psycopg

    committer = GroupCommitter()
    store = FakeStore(committer, hold=3)
    writes = []

    def once_dropped(rows):
        writes.append(len(rows))
        if len(writes) == 2:  # the group's first try meets a connection the server closed
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return store(rows)

    monkeypatch.setattr(group_commit, "write_rows", once_dropped)
    slots = run(committer, store, 4, lambda group: True)
    assert writes == [1, 3, 3]
    assert all(s.error is None and s.results == [(n, n % 2 == 0)] for n, s in slots.items())
