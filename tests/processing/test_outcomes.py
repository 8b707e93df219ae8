"""Processing outcomes: failures recorded and retried by the policy, dead letters, batches where one
event fails and the others stand, idempotent replay."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests import bookings as bs
from tests.bookings import cal_booking, calendly, calendly_no_show, invitee_uri
from tests.signing import post_cal_com, post_calendly
from vani import prospects
from vani.extensions import db
from vani.models import (
    EventStatus,
    Meeting,
    Notification,
    OutboundEvent,
    Prospect,
    ProspectNote,
    WebhookEvent,
)
from vani.models.base import as_utc, utcnow
from vani.providers.calendly import mapper as calendly_mapper
from vani.work import sweep


def broken_mapper(body, ctx):
    prospects.upsert(ctx, email="half@example.test")  # a change that must be rolled back
    raise RuntimeError("mapper exploded")


def make_due(event_id: int) -> None:
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def woken(lane: str = "events") -> bool:
    return next(s for s in sweep.run() if s.lane == lane).woken


def test_failure_is_recorded_backed_off_and_retried_once_due(client, run_worker, monkeypatch):
    monkeypatch.setattr(calendly_mapper, "map_event", broken_mapper)
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    run_worker()
    ev = bs.event(event_id)
    assert (ev.status, ev.attempts) == ("failed", 1)
    assert ev.outcome == "RuntimeError: mapper exploded"
    wait = (as_utc(ev.next_attempt_at) - utcnow()).total_seconds()
    assert 25 < wait <= 30  # first retry after 30 s (no jitter under test)
    assert bs.count(Prospect) == 0  # the half-done change was rolled back
    assert not woken()  # not due yet: nothing to wake

    make_due(event_id)
    assert woken()
    run_worker()
    ev = bs.event(event_id)
    assert (ev.status, ev.attempts) == ("failed", 2)
    assert 55 < (as_utc(ev.next_attempt_at) - utcnow()).total_seconds() <= 60  # doubled

    monkeypatch.undo()  # the bug is fixed
    make_due(event_id)
    assert woken()
    run_worker()
    ev = bs.event(event_id)
    assert (ev.status, ev.attempts, ev.outcome, ev.next_attempt_at) == ("processed", 3, None, None)
    assert ev.lease_token is None and ev.lease_expires_at is None
    assert bs.meeting("calendly", invitee_uri(1)).status == "scheduled"


def test_gives_up_after_max_attempts_and_keeps_a_dead_letter(client, run_worker, app, monkeypatch):
    app.config["VANI_EVENT_MAX_ATTEMPTS"] = 2
    monkeypatch.setattr(calendly_mapper, "map_event", broken_mapper)
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    run_worker()
    make_due(event_id)
    assert woken()
    run_worker()
    ev = bs.event(event_id)
    assert (ev.status, ev.attempts, ev.next_attempt_at) == (EventStatus.DEAD, 2, None)
    assert ev.outcome == "RuntimeError: mapper exploded"
    assert not woken()  # a dead letter waits for a person

    monkeypatch.undo()
    from vani.processing.events import replay

    assert replay(event_id) == "queued"
    run_worker()
    assert bs.event(event_id).status == "processed"


def test_one_bad_event_never_undoes_the_others_in_its_batch(client, run_worker, monkeypatch):
    real = calendly_mapper.map_event

    def picky(body, ctx):
        if body["payload"]["email"] == "bad@example.test":
            prospects.upsert(ctx, email="bad@example.test")
            raise ValueError("this one is broken")
        return real(body, ctx)

    monkeypatch.setattr(calendly_mapper, "map_event", picky)
    ids = [post_calendly(client, calendly("invitee.created", n, email=email)).json["event_id"]
           for n, email in ((1, "a@example.test"), (2, "bad@example.test"), (3, "c@example.test"))]
    run_worker()
    statuses = [bs.event(i).status for i in ids]
    assert statuses == ["processed", "failed", "processed"]
    emails = sorted(db.session.execute(select(Prospect.email)).scalars())
    assert emails == ["a@example.test", "c@example.test"]
    assert bs.count(Meeting) == 2 and bs.count(ProspectNote) == 2
    assert {e.data["prospect"]["email"] for e in db.session.execute(select(OutboundEvent)).scalars()
            if e.type == "meeting.scheduled"} == {"a@example.test", "c@example.test"}


def test_an_event_is_processed_once_and_replay_runs_it_again(client, run_worker):
    from vani.processing.events import reprocess

    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    run_worker()
    assert bs.event(event_id).attempts == 1
    assert run_worker() == 0  # nothing left to claim
    assert reprocess(event_id) == "processed"
    assert bs.event(event_id).attempts == 2


def snapshot():
    db.session.expire_all()
    return (bs.outbox_keys(), bs.count(ProspectNote), bs.count(Notification), bs.count(Prospect),
            sorted((m.provider, m.provider_ref, m.status, m.replaces_id, m.previous_status)
                   for m in db.session.execute(select(Meeting)).scalars()))


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_replay_emits_nothing_twice(client, run_worker, order):
    from vani.processing.events import reprocess

    payment = {"amount": 20, "currency": "EUR", "successful": True}
    sequence = [
        (post_calendly, calendly("invitee.created", 1, payment=payment)),
        (post_calendly, calendly("invitee.canceled", 1, rescheduled=True, canceled_at="2026-01-02T00:00:00Z")),
        (post_calendly, calendly("invitee.created", 2, old_invitee=invitee_uri(1), created_at="2026-01-02T00:00:00Z")),
        (post_calendly, calendly_no_show(True, 2, at="2026-01-08T00:00:00Z")),
        (post_calendly, calendly_no_show(False, 2, at="2026-01-08T01:00:00Z")),
        (post_cal_com, cal_booking("BOOKING_CREATED", "c1")),
        (post_cal_com, cal_booking("BOOKING_PAID", "c1", created_at="2026-02-01T08:01:00.000Z", price=500)),
        (post_cal_com, cal_booking("BOOKING_RESCHEDULED", "c2", created_at="2026-02-02T08:00:00.000Z",
                                   rescheduleUid="c1")),
        (post_cal_com, {"triggerEvent": "MEETING_ENDED", "uid": "c2", "startTime": "2026-02-10T09:00:00Z",
                        "updatedAt": "2026-02-10T09:40:00Z", "attendees": [{"email": "guest@example.test"}]}),
    ]
    ids = [post(client, body).json["event_id"] for post, body in sequence]
    run_worker()
    assert all(bs.event(i).status == "processed" for i in ids)
    before = snapshot()
    assert len(before[0]) == bs.count(OutboundEvent) >= 12
    for event_id in (ids if order == "forward" else reversed(ids)):
        assert reprocess(event_id) == "processed"
    assert snapshot() == before
    assert bs.emitted()["payment.received"] == 2 and bs.emitted()["meeting.completed"] == 1


def test_a_database_failure_is_recorded_without_the_values_it_carried(client, run_worker, monkeypatch):
    from sqlalchemy import text

    def leaky(body, ctx):
        db.session.execute(text("INSERT INTO no_such_table (email) VALUES (:e)"), {"e": "lena-secret@example.test"})

    monkeypatch.setattr(calendly_mapper, "map_event", leaky)
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    run_worker()
    ev = bs.event(event_id)
    assert ev.status == "failed" and "no_such_table" in ev.outcome
    assert "lena-secret" not in ev.outcome and "[parameters" not in ev.outcome
