"""Cal.com triggers end to end (HTTP endpoint + worker burst) with payloads written here."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.bookings import cal_booking
from tests.signing import post_cal_com
from vani.extensions import db
from vani.models import Notification, OutboundEvent, ProspectNote


def deliver(client, run_worker, *bodies):
    return bs.deliver(post_cal_com, client, run_worker, *bodies)


def flat(trigger: str, uid: str, updated_at: str = "2026-02-10T09:40:00.000Z", **extra) -> dict:
    """MEETING_STARTED / MEETING_ENDED: booking fields beside triggerEvent, no payload wrapper."""
    return {"triggerEvent": trigger, "uid": uid, "id": 7, "idempotencyKey": f"{trigger}-{uid}",
            "title": "Intro call", "startTime": "2026-02-10T09:00:00.000Z", "endTime": "2026-02-10T09:30:00.000Z",
            "createdAt": "2026-02-01T08:00:00.000Z", "updatedAt": updated_at, "status": "ACCEPTED",
            "user": {"email": "host@example.test", "name": "Host"},
            "attendees": [{"email": "guest@example.test", "name": "Guest Person", "noShow": False}],
            "payment": [], **extra}


def test_created_then_cancelled(client, run_worker):
    deliver(client, run_worker, cal_booking("BOOKING_CREATED", "b1"))
    m = bs.meeting("cal_com", "b1")
    p = bs.prospect("guest@example.test")
    assert (m.status, m.prospect_id, m.join_url, m.title) == ("scheduled", p.id, "https://app.cal.com/video/b1",
                                                              "Intro call")
    assert (p.name, p.timezone, p.source) == ("Guest Person", "Europe/Rome", "cal_com")
    deliver(client, run_worker, cal_booking("BOOKING_CANCELLED", "b1", created_at="2026-02-02T08:00:00.000Z",
                                            cancellationReason="No budget", cancelledBy="guest@example.test"))
    m = bs.meeting("cal_com", "b1")
    assert (m.status, m.cancellation_reason) == ("cancelled", "No budget")
    assert [n.body for n in bs.prospect("guest@example.test").notes] == [
        "Cal.com meeting scheduled for 2026-02-10 09:00 UTC – Intro call",
        "Cal.com meeting cancelled for 2026-02-10 09:00 UTC – Intro call (by guest@example.test); reason: No budget",
    ]
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 1, "meeting.cancelled": 1, "prospect.updated": 1}  # back to lead


def test_requested_is_pending_until_created(client, run_worker):
    deliver(client, run_worker, cal_booking("BOOKING_REQUESTED", "b2", status="PENDING"))
    assert bs.meeting("cal_com", "b2").status == "pending"
    deliver(client, run_worker, cal_booking("BOOKING_CREATED", "b2", created_at="2026-02-01T09:00:00.000Z"))
    assert bs.meeting("cal_com", "b2").status == "scheduled"


def test_rejected_is_cancelled_with_the_rejection_reason(client, run_worker):
    deliver(client, run_worker, cal_booking("BOOKING_REQUESTED", "b3"),
            cal_booking("BOOKING_REJECTED", "b3", created_at="2026-02-01T09:00:00.000Z", rejectionReason="Full"))
    m = bs.meeting("cal_com", "b3")
    assert (m.status, m.cancellation_reason) == ("cancelled", "Full")


def reschedule(new_uid: str, old_uid: str, at: str = "2026-02-03T08:00:00.000Z") -> dict:
    return cal_booking("BOOKING_RESCHEDULED", new_uid, created_at=at, start="2026-02-12T14:00:00.000Z",
                       end="2026-02-12T14:30:00.000Z", rescheduleUid=old_uid,
                       rescheduleStartTime="2026-02-10T09:00:00.000Z", rescheduleEndTime="2026-02-10T09:30:00.000Z",
                       rescheduledBy="guest@example.test")


@pytest.mark.parametrize("original_first", [True, False])
def test_reschedule_links_new_booking_to_old(client, run_worker, original_first):
    bodies = [cal_booking("BOOKING_CREATED", "old1"), reschedule("new1", "old1")]
    if not original_first:
        bodies.reverse()  # the original's create arrives late: it must not reopen the old booking
    deliver(client, run_worker, *bodies)
    old, new = bs.meeting("cal_com", "old1"), bs.meeting("cal_com", "new1")
    assert (old.status, new.status, new.replaces_id) == ("rescheduled", "scheduled", old.id)
    assert bs.same_utc(old.start_at, "2026-02-10T09:00:00Z") and bs.same_utc(new.start_at, "2026-02-12T14:00:00Z")
    assert bs.emitted()["meeting.rescheduled"] == 1
    note = db.session.execute(select(ProspectNote.body).where(ProspectNote.meeting_id == new.id)).scalar_one()
    assert note == ("Cal.com meeting rescheduled for 2026-02-12 14:00 UTC – Intro call (was 2026-02-10 09:00 UTC) "
                    "by guest@example.test")


def test_request_reschedule_cancels_then_the_new_booking_marks_it_rescheduled(client, run_worker):
    [ev] = deliver(client, run_worker, cal_booking("BOOKING_CREATED", "r1"),
                   cal_booking("BOOKING_CANCELLED", "r1", created_at="2026-02-02T08:00:00.000Z",
                               requestReschedule=True, cancellationReason="Please pick another day",
                               cancelledBy="host@example.test"))[1:]
    assert ev.outcome == "reschedule requested" and bs.meeting("cal_com", "r1").status == "cancelled"
    assert "asked to reschedule" in bs.prospect("guest@example.test").notes[-1].body
    deliver(client, run_worker, reschedule("r2", "r1"))
    assert bs.meeting("cal_com", "r1").status == "rescheduled"
    assert bs.meeting("cal_com", "r2").replaces_id == bs.meeting("cal_com", "r1").id


def test_meeting_ended_completes_and_notifies_once(client, run_worker, app):
    from vani.processing.events import reprocess

    [ev] = deliver(client, run_worker, flat("MEETING_ENDED", "e1"))
    m = bs.meeting("cal_com", "e1")
    assert ev.status == "processed" and m.status == "completed"
    hit = db.session.execute(select(Notification).where(Notification.kind == "meeting.completed")).scalar_one()
    assert (hit.meeting_id, hit.event_id) == (m.id, ev.id)  # delivered by the notification jobs
    reprocess(ev.id)
    assert bs.count(Notification, Notification.kind == "meeting.completed") == 1
    assert bs.emitted()["meeting.completed"] == 1


def test_meeting_started_is_in_progress_and_never_reopens(client, run_worker):
    [ev] = deliver(client, run_worker, flat("MEETING_STARTED", "s1"))
    assert ev.status == "processed"
    assert bs.meeting("cal_com", "s1").status == "in_progress"
    deliver(client, run_worker, flat("MEETING_ENDED", "s1"), flat("MEETING_STARTED", "s1", idempotencyKey="again"))
    assert bs.meeting("cal_com", "s1").status == "completed"


@pytest.mark.parametrize("extra,amount,currency", [
    ({"price": 2500, "currency": "eur"}, Decimal("25.00"), "EUR"),
    ({"price": 3000, "currency": "jpy"}, Decimal("3000.00"), "JPY"),
    ({"price": 0, "payment": [{"amount": 1999, "currency": "usd", "success": True}]}, Decimal("19.99"), "USD"),
])
def test_booking_paid_records_payment_and_stays_scheduled(client, run_worker, extra, amount, currency):
    deliver(client, run_worker, cal_booking("BOOKING_CREATED", "p1"),
            cal_booking("BOOKING_PAID", "p1", created_at="2026-02-01T08:05:00.000Z", **extra),
            cal_booking("BOOKING_PAID", "p1", created_at="2026-02-01T08:06:00.000Z", **extra))  # sent twice
    m = bs.meeting("cal_com", "p1")
    assert (m.status, m.payment_amount, m.payment_currency) == ("scheduled", amount, currency)
    assert bs.count(Notification, Notification.kind == "payment.received") == 1
    assert bs.emitted()["payment.received"] == 1
    data = db.session.execute(select(OutboundEvent.data).where(OutboundEvent.type == "payment.received")).scalar_one()
    assert data["amount"] == str(amount) and data["meeting"]["provider_ref"] == "p1"


def test_no_show_marked_and_unmarked(client, run_worker):
    deliver(client, run_worker, cal_booking("BOOKING_CREATED", "n1"))
    mark = {"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "createdAt": "2026-02-10T10:00:00.000Z",
            "payload": {"message": "guest marked", "bookingUid": "n1", "bookingId": 1,
                        "attendees": [{"email": "guest@example.test", "noShow": True}]}}
    [ev] = deliver(client, run_worker, mark)
    assert ev.status == "processed" and bs.meeting("cal_com", "n1").status == "no_show"
    assert ev.prospect_id == bs.prospect("guest@example.test").id
    unmark = {**mark, "createdAt": "2026-02-10T11:00:00.000Z",
              "payload": {**mark["payload"], "attendees": [{"email": "guest@example.test", "noShow": False}]}}
    deliver(client, run_worker, unmark)
    assert bs.meeting("cal_com", "n1").status == "scheduled"
    assert bs.emitted() == {"prospect.created": 1, "meeting.scheduled": 2, "meeting.no_show": 1, "prospect.updated": 1}  # booked → no_show


@pytest.mark.parametrize("body,reason", [
    ({"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "payload": {"bookingUid": "ghost", "attendees": []}},
     "no meeting for booking ghost"),
    (cal_booking("BOOKING_CANCELLED", "ghost2", start=None, end=None), "no times"),
    ({"triggerEvent": "MEETING_ENDED", "title": "x"}, "no uid"),
    ({"triggerEvent": "FORM_SUBMITTED", "payload": {}}, "hold no email"),  # forms now become leads
])
def test_unmappable_events_are_ignored_with_reason(client, run_worker, body, reason):
    [ev] = deliver(client, run_worker, body)
    assert ev.status == "ignored" and reason in ev.outcome
    assert bs.count(OutboundEvent) == 0


def test_prospect_from_form_answers_when_attendees_missing(client, run_worker):
    body = cal_booking("BOOKING_CREATED", "f1", attendees=[],
                       responses={"name": {"value": "Form Person"}, "email": {"value": "Form@Example.test"},
                                  "attendeePhoneNumber": {"value": "+39 06 6982 1234"}})
    deliver(client, run_worker, body)
    p = bs.prospect("form@example.test")
    assert (p.name, p.phone) == ("Form Person", "+390669821234")


def test_cancel_processed_before_create_is_not_undone(client, run_worker):
    """The cancel creates the meeting from its own times; the late create cannot reopen it."""
    deliver(client, run_worker, cal_booking("BOOKING_CANCELLED", "b9", created_at="2026-02-02T08:00:00.000Z",
                                            cancellationReason="Changed plans"))
    deliver(client, run_worker, cal_booking("BOOKING_CREATED", "b9"))
    m = bs.meeting("cal_com", "b9")
    assert (m.status, m.cancellation_reason, m.title) == ("cancelled", "Changed plans", "Intro call")
    assert bs.emitted() == {"prospect.created": 1, "meeting.cancelled": 1}
