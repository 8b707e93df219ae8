"""A batch of events: a bounded number of statements per event (none of its own for a new
booking on PostgreSQL), stage changes written with the batch (a failed event leaves none), a
prospect another worker inserts meanwhile taken as found, and lookups kept only for the batch
that read them."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert, select, update

from tests import bookings as bs
from tests.bookings import calendly
from tests.signing import post_calendly
from vani import orgs, prospects, work
from vani.extensions import db
from vani.models import (
    EventStatus,
    Meeting,
    OutboundEvent,
    Prospect,
    ProspectNote,
    ProspectStage,
    ProspectStageChange,
    WebhookEvent,
)
from vani.models.base import utcnow
from vani.processing.events import EVENTS
from vani.prospects import known
from vani.providers.calendly import mapper as calendly_mapper


@contextmanager
def counting_statements():
    """Counts the statements sent to the database in the block: ``seen[0]``."""
    seen = [0]

    def count(*_args):
        seen[0] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def store_bookings(client, first: int, count: int) -> list[int]:
    return [post_calendly(client, calendly("invitee.created", n, email=f"guest{n}@example.test")).json["event_id"]
            for n in range(first, first + count)]


def process(ids: list[int]) -> int:
    """Process these stored events as one claim; the statements that took."""
    with counting_statements() as seen:
        assert work.run_inline(EVENTS, ids) == len(ids)
    db.session.remove()
    return seen[0]


def test_each_further_booking_in_a_batch_costs_at_most_two_statements(client):
    first, rest = store_bookings(client, 1, 1), store_bookings(client, 100, 11)
    one, eleven = process(first), process(rest)
    assert all(bs.event(i).status == "processed" for i in first + rest)
    assert bs.count(Prospect) == 12 and bs.count(ProspectNote) == 12
    # A new prospect and its meeting are one INSERT each; everything else is written per batch.
    assert eleven - one <= 2 * 10, (one, eleven)


def needs_postgresql():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("new rows take their ids from PostgreSQL's sequences; on SQLite each is inserted by its event")


def test_a_batch_inserts_its_new_prospects_and_meetings_together(client):
    needs_postgresql()
    first, further = store_bookings(client, 1, 1), store_bookings(client, 100, 11)
    one, eleven = process(first), process(further)
    ids = first + further
    assert all(bs.event(i).status == "processed" for i in ids)
    assert bs.count(Prospect) == 12 and bs.count(Meeting) == 12 and bs.count(ProspectNote) == 12
    # No statement of a booking's own: the new rows go in one INSERT per table (two when the
    # first event's are flushed early, by the batch's first query).
    assert eleven - one <= 2, (one, eleven)
    outbound = bs.count(OutboundEvent)
    # The same batch again finds every row it names: nothing new.
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids))
                       .values(status=EventStatus.RECEIVED, next_attempt_at=utcnow()).execution_options(unscoped=True))
    db.session.commit()
    process(ids)
    assert all(bs.event(i).status == "processed" and bs.event(i).attempts == 2 for i in ids)
    assert bs.count(Prospect) == 12 and bs.count(Meeting) == 12 and bs.count(ProspectNote) == 12
    assert bs.count(OutboundEvent) == outbound


def test_a_prospect_another_worker_inserts_meanwhile_is_taken_as_found(client, monkeypatch):
    needs_postgresql()
    org = orgs.ensure_default()
    real = known.load

    def racing(prospect_keys, meeting_keys):
        real(prospect_keys, meeting_keys)  # guest5 is missing now; another worker inserts it
        with db.engine.begin() as other:
            other.execute(insert(Prospect.__table__).values(org_id=org.id, email="guest5@example.test",
                                                            name="First", stage=ProspectStage.LEAD, utm={},
                                                            owner_set_by_hand=False, created_at=utcnow(),
                                                            updated_at=utcnow()))

    monkeypatch.setattr(known, "load", racing)
    ids = store_bookings(client, 1, 9)
    process(ids)
    assert all(bs.event(i).status == "processed" for i in ids)
    assert bs.count(Prospect) == 9 and bs.count(Meeting) == 9 and bs.count(ProspectNote) == 9
    guest5 = prospects.find("guest5@example.test")
    assert guest5.name == "First" and guest5.meetings[0].prospect_id == guest5.id


def test_a_batch_whose_shared_read_fails_maps_each_event_on_its_own(client, monkeypatch):
    # A deadlock on the meetings the batch locks up front, say: no event is charged an attempt.
    from sqlalchemy.exc import OperationalError

    tries = []

    def deadlocked(prospect_keys, meeting_keys):
        tries.append(1)
        raise OperationalError("SELECT … FOR UPDATE", {}, Exception("deadlock detected"))

    monkeypatch.setattr(known, "load", deadlocked)
    ids = store_bookings(client, 1, 3)
    process(ids)
    assert tries == [1]  # the second pass reads nothing up front
    assert [(bs.event(i).status, bs.event(i).attempts) for i in ids] == [("processed", 1)] * 3
    assert bs.count(Prospect) == 3 and bs.count(Meeting) == 3 and bs.count(ProspectNote) == 3


def test_stage_changes_are_written_with_the_batch_and_a_failed_event_leaves_none(client, run_worker, monkeypatch):
    real = calendly_mapper.map_event

    def picky(body, ctx):
        outcome = real(body, ctx)  # the prospect is created and booked before the failure
        if body["payload"]["email"] == "guest2@example.test":
            raise ValueError("this one is broken")
        return outcome

    monkeypatch.setattr(calendly_mapper, "map_event", picky)
    ids = store_bookings(client, 1, 3)
    run_worker()
    assert [bs.event(i).status for i in ids] == ["processed", "failed", "processed"]
    changes = db.session.execute(select(Prospect.email, ProspectStageChange.from_stage, ProspectStageChange.to_stage,
                                        ProspectStageChange.event_id)
                                 .join(Prospect, Prospect.id == ProspectStageChange.prospect_id)
                                 .order_by(ProspectStageChange.id)).all()
    assert changes == [("guest1@example.test", None, ProspectStage.BOOKED, ids[0]),
                       ("guest3@example.test", None, ProspectStage.BOOKED, ids[2])]
    assert prospects.find("guest2@example.test") is None


def test_a_new_time_zone_is_seen_by_the_next_batch(client):
    org = orgs.ensure_default()
    org.timezone = "Europe/Berlin"
    db.session.commit()
    process(store_bookings(client, 1, 2))
    org = orgs.ensure_default()
    org.timezone = "America/New_York"
    db.session.commit()
    process(store_bookings(client, 3, 1))
    notes = db.session.execute(select(Prospect.email, ProspectNote.body)
                               .join(Prospect, Prospect.id == ProspectNote.prospect_id).order_by(Prospect.email)).all()
    assert [(email, body.split(" for ")[1].split(" – ")[0]) for email, body in notes] == [
        ("guest1@example.test", "2026-01-05 11:00 CET"),
        ("guest2@example.test", "2026-01-05 11:00 CET"),
        ("guest3@example.test", "2026-01-05 05:00 EST"),
    ]
