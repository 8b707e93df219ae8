"""A batch of events: a bounded number of statements per event, stage changes written with the
batch (a failed event leaves none), and lookups kept only for the batch that read them."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, select

from tests import bookings as bs
from tests.bookings import calendly
from tests.signing import post_calendly
from vani import orgs, prospects, work
from vani.extensions import db
from vani.models import Prospect, ProspectNote, ProspectStage, ProspectStageChange
from vani.processing.events import EVENTS
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
    one = process(store_bookings(client, 1, 1))
    eleven = process(store_bookings(client, 100, 11))
    assert all(bs.event(i).status == "processed" for i in range(1, 13))
    assert bs.count(Prospect) == 12 and bs.count(ProspectNote) == 12
    # A new prospect and its meeting are one INSERT each; everything else is written per batch.
    assert eleven - one <= 2 * 10, (one, eleven)


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
