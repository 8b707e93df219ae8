"""Calendly events end to end (HTTP endpoint + worker burst) with payloads written here."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.bookings import calendly, calendly_no_show, invitee_uri
from tests.signing import post_calendly
from vani.extensions import db
from vani.models import Notification, OutboundEvent


def deliver(client, run_worker, *bodies):
    return bs.deliver(post_calendly, client, run_worker, *bodies)


def test_invitee_created_makes_prospect_meeting_and_note(client, run_worker):
    [ev] = deliver(client, run_worker, calendly("invitee.created", phone="+1 555-010-0031"))
    assert ev.status == "processed"
    p = bs.prospect("lena@example.test")
    assert (p.name, p.phone, p.timezone, p.source) == ("Lena Novak", "+15550100031", "Europe/Berlin", "calendly")
    m = bs.meeting("calendly", invitee_uri(1))
    assert (m.status, m.title, m.join_url, m.location_type, m.prospect_id) == (
        "scheduled", "30 Minute Meeting", "https://zoom.example/j/1", "zoom", p.id)
    assert [n.body for n in p.notes] == ["Calendly meeting scheduled for 2026-01-05 10:00 UTC – 30 Minute Meeting"]
    assert (ev.prospect_id, ev.meeting_id, ev.subject_email) == (p.id, m.id, "lena@example.test")
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 1}
    scheduled = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "meeting.scheduled")).scalar_one()
    assert scheduled.data["provider_ref"] == invitee_uri(1) and scheduled.data["prospect"]["email"] == "lena@example.test"


@pytest.mark.parametrize("location,join_url", [
    ({"type": "google_conference", "join_url": "https://meet.google.com/abc", "status": "pushed"},
     "https://meet.google.com/abc"),
    ({"type": "physical", "location": "Main office"}, None),
    ({"type": "outbound_call", "location": "+1 555-010-0003"}, None),
    ({"type": "custom", "location": "https://video.example/room"}, "https://video.example/room"),
])
def test_join_url_only_where_the_location_has_one(client, run_worker, location, join_url):
    deliver(client, run_worker, calendly("invitee.created", location=location))
    m = bs.meeting("calendly", invitee_uri(1))
    assert (m.join_url, m.location_type) == (join_url, location["type"])


RESCHEDULE_CANCEL = calendly("invitee.canceled", 1, rescheduled=True, new_invitee=invitee_uri(2),
                             canceled_at="2026-01-02T12:00:00.000000Z")
RESCHEDULE_CREATE = calendly("invitee.created", 2, old_invitee=invitee_uri(1), created_at="2026-01-02T12:00:00.000000Z",
                             start="2026-01-07T15:00:00.000000Z", end="2026-01-07T15:30:00.000000Z")


@pytest.mark.parametrize("order", ["cancel_first", "create_first"])
def test_reschedule_pair_in_either_order(client, run_worker, order):
    deliver(client, run_worker, calendly("invitee.created", 1))
    pair = [RESCHEDULE_CANCEL, RESCHEDULE_CREATE]
    if order == "create_first":
        pair.reverse()
    deliver(client, run_worker, *pair)
    old, new = bs.meeting("calendly", invitee_uri(1)), bs.meeting("calendly", invitee_uri(2))
    assert old.status == "rescheduled" and new.status == "scheduled"
    assert new.replaces_id == old.id and new.prospect_id == old.prospect_id
    assert bs.count(OutboundEvent, OutboundEvent.type == "meeting.rescheduled") == 1
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 2, "meeting.rescheduled": 1}
    assert {n.body for n in bs.prospect("lena@example.test").notes} == {
        "Calendly meeting scheduled for 2026-01-05 10:00 UTC – 30 Minute Meeting",
        "Calendly meeting for 2026-01-05 10:00 UTC rescheduled – 30 Minute Meeting (by Lena Novak)",
        "Calendly meeting scheduled for 2026-01-07 15:00 UTC – 30 Minute Meeting",
    }


def test_reschedule_create_alone_links_a_minimal_old_meeting_that_its_cancel_fills(client, run_worker):
    deliver(client, run_worker, RESCHEDULE_CREATE)
    old = bs.meeting("calendly", invitee_uri(1))
    assert old.status == "rescheduled" and old.start_at is None
    assert bs.meeting("calendly", invitee_uri(2)).replaces_id == old.id
    deliver(client, run_worker, RESCHEDULE_CANCEL)
    old = bs.meeting("calendly", invitee_uri(1))
    assert old.status == "rescheduled" and old.title == "30 Minute Meeting" and old.start_at is not None


def test_cancel_processed_before_create_is_not_undone(client, run_worker):
    cancel = calendly("invitee.canceled", reason="Something came up", canceled_at="2026-01-01T10:00:00.000000Z")
    [ev] = deliver(client, run_worker, cancel)
    m = bs.meeting("calendly", invitee_uri(1))
    assert ev.status == "processed" and m.status == "cancelled" and m.title == "30 Minute Meeting"
    [late] = deliver(client, run_worker, calendly("invitee.created"))
    m = bs.meeting("calendly", invitee_uri(1))
    assert late.status == "processed"
    assert (m.status, m.cancellation_reason) == ("cancelled", "Something came up")
    assert bs.emitted() == {"prospect.created": 1, "meeting.cancelled": 1}


def test_cancel_after_create_with_reason_and_note(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created"),
            calendly("invitee.canceled", reason="Found another vendor", canceled_at="2026-01-03T08:00:00.000000Z"))
    m = bs.meeting("calendly", invitee_uri(1))
    assert (m.status, m.cancellation_reason) == ("cancelled", "Found another vendor")
    notes = [n.body for n in bs.prospect("lena@example.test").notes]
    assert notes[-1] == ("Calendly meeting for 2026-01-05 10:00 UTC cancelled – 30 Minute Meeting (by Lena Novak); "
                         "reason: Found another vendor")


def test_no_show_marked_then_removed_restores_status(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created"))
    [marked] = deliver(client, run_worker, calendly_no_show(True, at="2026-01-05T11:00:00.000000Z"))
    assert marked.status == "processed" and bs.meeting("calendly", invitee_uri(1)).status == "no_show"
    [removed] = deliver(client, run_worker, calendly_no_show(False, at="2026-01-05T12:00:00.000000Z"))
    assert removed.status == "processed" and bs.meeting("calendly", invitee_uri(1)).status == "scheduled"
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 2, "meeting.no_show": 1, "prospect.updated": 1}  # booked → no_show
    # The mark delivered again late (older than the unmark) changes nothing.
    late = calendly_no_show(True, at="2026-01-05T11:00:00.000000Z")
    late["payload"]["uri"] += "-redelivered"
    deliver(client, run_worker, late)
    assert bs.meeting("calendly", invitee_uri(1)).status == "scheduled"


def test_no_show_for_unknown_invitee(client, run_worker):
    [unmark] = deliver(client, run_worker, calendly_no_show(False, n=9))
    assert unmark.status == "ignored" and invitee_uri(9) in unmark.outcome
    [mark] = deliver(client, run_worker, calendly_no_show(True, n=9))
    assert mark.status == "processed" and bs.meeting("calendly", invitee_uri(9)).status == "no_show"
    deliver(client, run_worker, calendly("invitee.created", 9))  # the create arrives late: kept no_show, filled in
    m = bs.meeting("calendly", invitee_uri(9))
    assert m.status == "no_show" and m.title == "30 Minute Meeting" and m.prospect_id is not None


def test_payment_recorded_notified_and_emitted_once(client, run_worker, app):
    from vani.processing.events import reprocess

    payment = {"external_id": "ch_1", "provider": "stripe", "amount": 49.5, "currency": "usd", "successful": True}
    [ev] = deliver(client, run_worker, calendly("invitee.created", payment=payment))
    m = bs.meeting("calendly", invitee_uri(1))
    assert (m.payment_amount, m.payment_currency, m.paid_at is not None) == (Decimal("49.50"), "USD", True)
    note = db.session.execute(select(Notification).where(Notification.kind == "payment.received")).scalar_one()
    assert (note.kind, note.meeting_id, note.event_id) == ("payment.received", m.id, ev.id)
    assert note.data["amount"] == "49.50"
    assert reprocess(ev.id) == "processed"
    assert bs.emitted()["payment.received"] == 1
    assert bs.count(Notification, Notification.kind == "payment.received") == 1


def test_unsuccessful_payment_is_not_recorded(client, run_worker):
    payment = {"amount": 10, "currency": "USD", "successful": False}
    deliver(client, run_worker, calendly("invitee.created", payment=payment))
    assert bs.meeting("calendly", invitee_uri(1)).paid_at is None and "payment.received" not in bs.emitted()


def test_legacy_v1_shape(client, run_worker):
    body = {"event": "invitee.created", "time": "2019-03-01T10:00:00Z", "payload": {
        "event_type": {"uuid": "ET1", "name": "Discovery Call", "slug": "discovery", "duration": 30},
        "event": {"uuid": "EV1", "start_time": "2019-03-04T09:00:00-05:00", "end_time": "2019-03-04T09:30:00-05:00",
                  "location": "https://zoom.example/j/legacy", "canceled": False},
        "invitee": {"uuid": "INV1", "first_name": "Old", "last_name": "Timer", "name": None,
                    "email": "Old.Timer@Example.com", "timezone": "America/New_York", "text_reminder_number": None,
                    "created_at": "2019-03-01T10:00:00Z", "canceled": False},
        "questions_and_answers": [], "tracking": {}}}
    [ev] = deliver(client, run_worker, body)
    assert ev.status == "processed"
    m = bs.meeting("calendly", "invitee:INV1")
    assert m.title == "Discovery Call" and m.join_url == "https://zoom.example/j/legacy"
    assert bs.same_utc(m.start_at, "2019-03-04T14:00:00Z")
    assert bs.prospect("old.timer@example.com").name == "Old Timer"


def test_cancel_with_null_name_keeps_known_name(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created"),
            calendly("invitee.canceled", name=None, canceled_at="2026-01-02T00:00:00.000000Z"))
    assert bs.prospect("lena@example.test").name == "Lena Novak"
    assert bs.meeting("calendly", invitee_uri(1)).status == "cancelled"


@pytest.mark.parametrize("name", ["event_type.updated", "invitee.updated"])
def test_other_event_types_are_ignored_with_reason(client, run_worker, name):
    body = {"event": name, "created_at": "2026-01-01T00:00:00Z", "payload": {"uri": "https://api.calendly.com/x/1"}}
    [ev] = deliver(client, run_worker, body)
    assert ev.status == "ignored" and name in ev.outcome
    assert bs.count(OutboundEvent) == 0


def test_invitee_without_uri_is_ignored(client, run_worker):
    body = calendly("invitee.created")
    del body["payload"]["uri"]
    [ev] = deliver(client, run_worker, body)
    assert ev.status == "ignored" and "uri" in ev.outcome


def test_shared_phone_does_not_merge_two_people(client, run_worker):
    deliver(client, run_worker, calendly("invitee.created", 1, phone="+1 555-010-0040"),
            calendly("invitee.created", 2, email="colleague@example.test", name="Colleague", phone="+15550100040"))
    lena, colleague = bs.prospect("lena@example.test"), bs.prospect("colleague@example.test")
    assert colleague is not None and colleague.id != lena.id and colleague.phone == lena.phone == "+15550100040"
    assert bs.meeting("calendly", invitee_uri(2)).prospect_id == colleague.id
