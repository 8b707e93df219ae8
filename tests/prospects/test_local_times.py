"""Times Vani writes for people (notes, notifications) are in the organisation's time zone, with
the zone named; UTC when the organisation has none, or one this machine does not know."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.bookings import cal_booking, calendly
from tests.prospects.helpers import cal_com, notes, set_timezone, sweep
from tests.prospects.helpers import calendly as deliver
from vani import tenancy
from vani.extensions import db
from vani.models import Notification
from vani.notifications import render


@pytest.fixture
def berlin(app):
    set_timezone(tenancy.require(), "Europe/Berlin")


def test_a_booking_note_is_in_the_organisations_time_zone(client, run_worker, berlin):
    deliver(client, run_worker, calendly("invitee.created"),
            calendly("invitee.canceled", canceled_at="2026-01-02T12:00:00.000000Z"))
    assert notes("lena@example.test") == [
        "Calendly meeting scheduled for 2026-01-05 11:00 CET – 30 Minute Meeting",
        "Calendly meeting for 2026-01-05 11:00 CET cancelled – 30 Minute Meeting (by Lena Novak)",
    ]


def test_summer_time_is_named_as_such(client, run_worker, berlin):
    deliver(client, run_worker, calendly("invitee.created", start="2026-07-01T10:00:00.000000Z",
                                         end="2026-07-01T10:30:00.000000Z"))
    assert notes("lena@example.test") == ["Calendly meeting scheduled for 2026-07-01 12:00 CEST – 30 Minute Meeting"]


def test_a_cal_com_reschedule_names_both_times_in_the_zone(client, run_worker, berlin):
    cal_com(client, run_worker, cal_booking("BOOKING_CREATED", "b1"),
            cal_booking("BOOKING_RESCHEDULED", "b2", rescheduleUid="b1", start="2026-02-12T14:00:00.000Z",
                        end="2026-02-12T14:30:00.000Z", rescheduleStartTime="2026-02-10T09:00:00.000Z",
                        rescheduleEndTime="2026-02-10T09:30:00.000Z", created_at="2026-02-02T08:00:00.000Z"))
    assert notes("guest@example.test")[0] == "Cal.com meeting scheduled for 2026-02-10 10:00 CET – Intro call"
    assert notes("guest@example.test")[1].startswith(
        "Cal.com meeting rescheduled for 2026-02-12 15:00 CET – Intro call (was 2026-02-10 10:00 CET)")


def test_a_zone_without_a_short_name_is_named_in_full(client, run_worker):
    set_timezone(tenancy.require(), "America/Sao_Paulo")
    deliver(client, run_worker, calendly("invitee.created"))
    assert notes("lena@example.test") == [
        "Calendly meeting scheduled for 2026-01-05 07:00 America/Sao_Paulo – 30 Minute Meeting"]


@pytest.mark.parametrize("zone", ["", "UTC", "Mars/Olympus_Mons"])
def test_no_time_zone_or_an_unknown_one_is_utc(client, run_worker, zone):
    set_timezone(tenancy.require(), zone)
    deliver(client, run_worker, calendly("invitee.created"))
    assert notes("lena@example.test") == ["Calendly meeting scheduled for 2026-01-05 10:00 UTC – 30 Minute Meeting"]


def test_the_end_time_sweep_writes_its_note_in_the_zone(client, run_worker, berlin):
    deliver(client, run_worker, calendly("invitee.created"))
    sweep("2026-01-05T10:45:00Z")
    assert notes("lena@example.test")[-1] == (
        "Calendly meeting completed after its end time (2026-01-05 11:30 CET) – 30 Minute Meeting")


def test_a_booking_notification_names_the_time_in_the_zone(client, run_worker, berlin):
    deliver(client, run_worker, calendly("invitee.created"))
    booked = db.session.execute(select(Notification).where(Notification.kind == "meeting.scheduled")).scalar_one()
    shown = render(booked)
    assert shown.summary == "Lena Novak booked 30 Minute Meeting for 2026-01-05 11:00 CET."
    assert ("Meeting", "30 Minute Meeting · 2026-01-05 11:00 CET") in shown.fields
