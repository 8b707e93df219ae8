"""Meetings that finish by the clock: a meeting no provider said ended is completed once its end
time has passed by the grace period, exactly as Cal.com's MEETING_ENDED completes one, once."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.bookings import cal_booking, calendly, calendly_no_show, invitee_uri
from tests.outbound.helpers import subscribe
from tests.prospects.helpers import (
    cal_com,
    cal_ended,
    completed_notifications,
    notes,
    other_org,
    sweep,
)
from tests.prospects.helpers import calendly as deliver
from vani import tenancy
from vani.extensions import db
from vani.jobs import maintenance
from vani.models import Meeting, OutboundEvent, Prospect, ProspectNote, WebhookDelivery
from vani.work.wake import enqueue_job

ENDED = "2026-01-05T10:30:00Z"  # the end of the Calendly booking tests.bookings writes
AFTER_GRACE = "2026-01-05T10:45:00Z"


def test_a_calendly_meeting_is_completed_once_its_end_time_has_passed_by_the_grace(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created"))
    assert sweep("2026-01-05T10:44:59Z") == 0  # ended 14:59 ago: not yet
    m = bs.meeting("calendly", invitee_uri(1))
    assert m.status == "scheduled" and bs.prospect("lena@example.test").stage == "booked"

    assert sweep(AFTER_GRACE) == 1
    m = bs.meeting("calendly", invitee_uri(1))
    assert m.status == "completed"
    assert bs.prospect("lena@example.test").stage == "met"
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 1, "meeting.completed": 1,
                            "prospect.updated": 1}
    event = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "meeting.completed")).scalar_one()
    assert event.data["status"] == "completed" and event.data["prospect"]["email"] == "lena@example.test"
    [hit] = completed_notifications()
    assert (hit.meeting_id, hit.event_id, hit.moment_key) == (m.id, None, f"meeting.completed:calendly:{m.provider_ref}")
    assert notes("lena@example.test")[-1] == (
        "Calendly meeting completed after its end time (2026-01-05 10:30 UTC) – 30 Minute Meeting")
    note = db.session.execute(select(ProspectNote).where(ProspectNote.body.like("%after its end time%"))).scalar_one()
    assert note.meeting_id == m.id


def test_the_sweep_run_twice_completes_and_tells_once(client, run_worker):
    subscription_id = subscribe("https://crm.example.test/hooks", events=["meeting.completed"])[0].id
    deliver(client, run_worker, calendly("invitee.created"))
    assert sweep(AFTER_GRACE) == 1
    assert sweep(AFTER_GRACE) == 0
    assert sweep("2026-01-06T10:45:00Z") == 0
    assert bs.emitted()["meeting.completed"] == 1
    assert len(completed_notifications()) == 1
    assert sum("after its end time" in n for n in notes("lena@example.test")) == 1
    [delivery] = db.session.execute(select(WebhookDelivery)).scalars()  # subscribers get it, once
    assert delivery.subscription_id == subscription_id


@pytest.mark.parametrize("grace,completed", [("0", 1), ("15", 0), ("60", 0)])
def test_the_grace_period_is_a_setting(app, client, run_worker, grace, completed):
    app.config["VANI_MEETING_GRACE_MINUTES"] = int(grace)
    deliver(client, run_worker, calendly("invitee.created"))
    assert sweep("2026-01-05T10:30:00Z") == completed  # right at its end time


@pytest.mark.parametrize("body,status", [
    (calendly("invitee.canceled", reason="Busy"), "cancelled"),
    (calendly("invitee.canceled", rescheduled=True, new_invitee=invitee_uri(2)), "rescheduled"),
    (calendly_no_show(True), "no_show"),
])
def test_cancelled_rescheduled_and_no_show_meetings_are_left_alone(client, run_worker, body, status):
    deliver(client, run_worker, calendly("invitee.created"), body)
    assert sweep(AFTER_GRACE) == 0
    assert bs.meeting("calendly", invitee_uri(1)).status == status
    assert "meeting.completed" not in bs.emitted() and completed_notifications() == []


def test_a_request_the_host_never_confirmed_is_not_completed(client, run_worker):
    cal_com(client, run_worker, cal_booking("BOOKING_REQUESTED", "r1"))
    assert sweep("2026-02-10T10:00:00Z") == 0
    assert bs.meeting("cal_com", "r1").status == "pending"


def test_a_meeting_without_an_end_time_is_left_alone(client, run_worker):
    deliver(client, run_worker, calendly_no_show(True))  # a minimal meeting: the mark, no times
    deliver(client, run_worker, calendly_no_show(False, at="2026-01-05T11:05:00.000000Z"))
    assert bs.meeting("calendly", invitee_uri(1)).status == "scheduled"
    assert sweep("2026-02-01T00:00:00Z") == 0


def test_a_later_no_show_still_wins(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created"))
    sweep(AFTER_GRACE)
    deliver(client, run_worker, calendly_no_show(True, at="2026-01-05T11:00:00.000000Z"))
    m = bs.meeting("calendly", invitee_uri(1))
    assert m.status == "no_show" and bs.prospect("lena@example.test").stage == "no_show"
    assert bs.emitted()["meeting.no_show"] == 1
    # Unmarked, it is completed again without telling anyone a second time.
    deliver(client, run_worker, calendly_no_show(False, at="2026-01-05T11:10:00.000000Z"))
    assert bs.meeting("calendly", invitee_uri(1)).status == "completed"
    assert sweep("2026-01-05T12:00:00Z") == 0
    assert len(completed_notifications()) == 1


def test_a_started_cal_com_meeting_without_meeting_ended_is_completed(client, run_worker):
    cal_com(client, run_worker, cal_booking("BOOKING_CREATED", "c1"))
    started = {**cal_ended("c1", "start"), "triggerEvent": "MEETING_STARTED"}
    cal_com(client, run_worker, started)
    assert bs.meeting("cal_com", "c1").status == "in_progress"
    assert sweep("2026-02-10T09:45:00Z") == 1
    assert bs.meeting("cal_com", "c1").status == "completed"
    assert bs.prospect("guest@example.test").stage == "met"
    assert notes("guest@example.test")[-1] == (
        "Cal.com meeting completed after its end time (2026-02-10 09:30 UTC) – Intro call")


@pytest.mark.parametrize("first", ["sweep", "provider"])
def test_the_sweep_and_meeting_ended_raise_meeting_completed_once(client, run_worker, first):
    cal_com(client, run_worker, cal_booking("BOOKING_CREATED", "c1"))
    if first == "sweep":
        assert sweep("2026-02-10T09:45:00Z") == 1
        cal_com(client, run_worker, cal_ended("c1"))
    else:
        cal_com(client, run_worker, cal_ended("c1"))
        assert sweep("2026-02-10T09:45:00Z") == 0
    assert bs.meeting("cal_com", "c1").status == "completed"
    assert bs.emitted()["meeting.completed"] == 1
    assert len(completed_notifications()) == 1
    assert bs.prospect("guest@example.test").stage == "met"


def test_every_organisations_meetings_are_completed_each_in_its_own(client, run_worker):
    other, post = other_org()
    deliver(client, run_worker, calendly("invitee.created", 1))
    bs.deliver(post, client, run_worker, calendly("invitee.created", 2, email="kai@example.test"))
    with tenancy.acting_for(None):
        assert sweep(AFTER_GRACE) == 2
    with tenancy.everywhere():
        rows = db.session.execute(select(Meeting.org_id, Meeting.status, Prospect.stage)
                                  .join(Prospect, Prospect.id == Meeting.prospect_id)).all()
        events = db.session.execute(select(OutboundEvent.org_id).where(OutboundEvent.type == "meeting.completed"))
        assert sorted(events.scalars()) == sorted([tenancy.require(), other])
    assert sorted(rows) == sorted([(tenancy.require(), "completed", "met"), (other, "completed", "met")])


def test_the_scheduler_queues_the_sweep_every_minute_and_a_worker_runs_it(app, client, run_worker):
    assert any(e.func is maintenance.complete_ended_meetings and e.interval == 60 for e in maintenance.CRON)
    app.config["VANI_MEETING_GRACE_MINUTES"] = 0
    deliver(client, run_worker, calendly("invitee.created", end="2026-01-05T10:30:00.000000Z"))
    enqueue_job(maintenance.complete_ended_meetings)  # the booking's end is long past today
    run_worker()
    assert bs.meeting("calendly", invitee_uri(1)).status == "completed"
    assert bs.prospect("lena@example.test").stage == "met"


def test_the_meeting_page_and_prospect_timeline_say_it_completed_after_its_end_time(client, run_worker, login):
    deliver(client, run_worker, calendly("invitee.created"))
    sweep(AFTER_GRACE)
    m = bs.meeting("calendly", invitee_uri(1))
    viewer = login("viewer")
    meeting_page = viewer.get(f"/dashboard/meetings/{m.id}").get_data(as_text=True)
    prospect_page = viewer.get(f"/dashboard/prospects/{m.prospect_id}").get_data(as_text=True)
    for page in (meeting_page, prospect_page):
        assert "Calendly meeting completed after its end time (2026-01-05 10:30 UTC)" in page


def test_a_meeting_a_worker_holds_now_is_left_to_the_next_run(app, client, run_worker):
    """While the events lane holds a meeting (mapping its MEETING_ENDED, say), the sweep neither
    waits for it nor completes it: the next run looks again."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    import threading

    from sqlalchemy import text

    deliver(client, run_worker, calendly("invitee.created"))
    meeting_id = bs.meeting("calendly", invitee_uri(1)).id
    db.session.rollback()
    result: list[int] = []

    def run_sweep():
        with app.app_context():
            result.append(sweep(AFTER_GRACE))
            db.session.remove()

    with db.engine.connect() as worker:
        worker.execute(text("SELECT id FROM meetings WHERE id = :id FOR UPDATE"), {"id": meeting_id})
        thread = threading.Thread(target=run_sweep)
        thread.start()
        thread.join(10)
        assert not thread.is_alive(), "the sweep waited for the locked meeting"
        worker.rollback()
    assert result == [0] and bs.meeting("calendly", invitee_uri(1)).status == "scheduled"
    assert sweep(AFTER_GRACE) == 1


def test_a_meeting_that_ended_long_ago_is_completed_without_telling_the_team(app, client, run_worker):
    # The first run after an upgrade (or after the scheduler was down for days) finds last month's
    # meetings still scheduled: each is completed, noted and sent to subscribers, but nobody is pinged.
    subscription_id = subscribe("https://crm.example.test/hooks", events=["meeting.completed"])[0].id
    deliver(client, run_worker, calendly("invitee.created"))
    assert app.config["VANI_MEETING_NOTIFY_HOURS"] == 24
    assert sweep("2026-01-06T10:31:00Z") == 1  # ended 24 h and a minute ago
    assert bs.meeting("calendly", invitee_uri(1)).status == "completed"
    assert bs.prospect("lena@example.test").stage == "met"
    assert bs.emitted()["meeting.completed"] == 1
    assert completed_notifications() == []
    assert "after its end time" in notes("lena@example.test")[-1]
    [delivery] = db.session.execute(select(WebhookDelivery)).scalars()
    assert delivery.subscription_id == subscription_id


def test_how_long_ago_a_meeting_may_end_and_still_be_told_is_a_setting(app, client, run_worker):
    app.config["VANI_MEETING_NOTIFY_HOURS"] = 48
    deliver(client, run_worker, calendly("invitee.created"))
    assert sweep("2026-01-06T10:31:00Z") == 1
    assert len(completed_notifications()) == 1
