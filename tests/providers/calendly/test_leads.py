"""Calendly leads and qualification end to end (signed HTTP endpoint + worker burst): routing form
submissions become leads; bookings carry their answers, UTM source and host into the meeting and
the prospect, whose stage follows the booking."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.signing import post_calendly
from vani.extensions import db
from vani.models import Lead, Meeting, OutboundEvent
from vani.processing.events import reprocess

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calendly"
GUEST, HOST = "dana.reyes@brightline.test", "ines.moreau@vani-sales.test"
INVITEE = ("https://api.calendly.com/scheduled_events/3f9d2b71-8c4e-4a15-b6d0-7e2f1a9c5b38"
           "/invitees/a81c6e2d-0b94-4f37-8d15-c2e7f9a4b603")
SUBMISSION = "https://api.calendly.com/routing_form_submissions/e4a1b2c3-6d7e-4f80-91a2-b3c4d5e6f708"
UTM = {"utm_campaign": "spring-demo", "utm_source": "linkedin", "utm_medium": "paid_social",
       "utm_content": "carousel-b"}
FORM_ANSWERS = [
    {"question": "Work email", "answer": "Dana.Reyes@Brightline.test"},
    {"question": "Your name", "answer": "Dana Reyes"},
    {"question": "Company name", "answer": "Brightline Logistics"},
    {"question": "Phone number", "answer": "+1 415 555 0142"},
    {"question": "How many sellers?", "answer": "11-50"},
    {"question": "Interested in", "answer": "Lead routing, Reporting"},
    {"question": "Routed to event type",
     "answer": "https://api.calendly.com/event_types/b2d4f6a8-0c1e-4a3b-8d5f-7e9a1c3b5d70"},
]
BOOKING_ANSWERS = [
    {"question": "Company size", "answer": "51-200"},
    {"question": "Which CRM do you use?", "answer": "Pipedrive"},
    {"question": "What should we cover?", "answer": "Routing inbound demo requests to the right seller."},
]


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def deliver(client, run_worker, *names: str):
    return bs.deliver(post_calendly, client, run_worker, *(load(n) for n in names))


def notes(email: str) -> list[str]:
    return [n.body for n in bs.prospect(email).notes]


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_each_fixture_alone_is_processed_or_ignored_with_reason(client, run_worker, name):
    [ev] = deliver(client, run_worker, name)
    assert ev.verified is True and ev.attempts == 1
    assert ev.status == ("ignored" if name.endswith("without_email") else "processed"), ev.outcome


def test_routing_form_submission_becomes_one_lead(client, run_worker):
    [ev] = deliver(client, run_worker, "routing_form_submission_created")
    assert (ev.status, ev.outcome) == ("processed", "lead from Calendly routing form recorded")
    p = bs.prospect(GUEST)
    assert (p.name, p.phone, p.stage, p.utm_source, p.utm) == ("Dana Reyes", "+14155550142", "lead", "linkedin", UTM)
    lead = db.session.execute(select(Lead)).scalar_one()
    assert (lead.prospect_id, lead.submission_ref, lead.form_name) == (p.id, SUBMISSION, "Calendly routing form")
    assert lead.form_ref == "https://api.calendly.com/routing_forms/7c2e4f10-5a3b-4d8e-9f61-2b8a0c3d4e51"
    assert (lead.answers, lead.utm) == (FORM_ANSWERS, UTM)
    assert notes(GUEST) == ["Calendly routing form submitted:\n"
                            + "\n".join(f"{a['question']}: {a['answer']}" for a in FORM_ANSWERS)]
    assert bs.emitted() == {"prospect.created": 1, "lead.created": 1}
    # A replay and a redelivery with a later time record nothing twice.
    assert reprocess(ev.id) == "processed"
    again = load("routing_form_submission_created")
    again["created_at"] = "2026-03-02T09:20:00.000000Z"
    bs.deliver(post_calendly, client, run_worker, again)
    assert (bs.count(Lead), len(notes(GUEST)), bs.emitted()["lead.created"]) == (1, 1, 1)


def test_submission_without_email_is_ignored_with_the_reason(client, run_worker):
    [ev] = deliver(client, run_worker, "routing_form_submission_without_email")
    assert (ev.status, ev.outcome) == ("ignored", "the submission's answers hold no email")
    assert bs.count(Lead) == 0 and bs.emitted() == {}


def test_booking_fills_answers_source_and_a_members_ownership(client, run_worker, make_user):
    host_id = make_user("staff", email="Ines.Moreau@vani-sales.test").id
    [ev] = deliver(client, run_worker, "invitee_created_qualified")
    assert ev.status == "processed", ev.outcome
    m, p = bs.meeting("calendly", INVITEE), bs.prospect(GUEST)
    assert (m.answers, m.utm, m.owner_id, m.owner_email) == (BOOKING_ANSWERS, UTM, host_id, HOST)
    assert (p.owner_id, p.owner_email, p.utm_source, p.stage) == (host_id, HOST, "linkedin", "booked")


def test_a_host_who_is_no_member_is_kept_by_email_only(client, run_worker):
    deliver(client, run_worker, "invitee_created_qualified")
    m, p = bs.meeting("calendly", INVITEE), bs.prospect(GUEST)
    assert (m.owner_id, m.owner_email, p.owner_id, p.owner_email) == (None, HOST, None, HOST)


def test_lead_then_booking_then_cancel_moves_the_stage(client, run_worker):
    deliver(client, run_worker, "routing_form_submission_created")
    assert bs.prospect(GUEST).stage == "lead"
    deliver(client, run_worker, "invitee_created_qualified")
    assert bs.prospect(GUEST).stage == "booked"
    deliver(client, run_worker, "invitee_canceled_qualified")
    assert (bs.meeting("calendly", INVITEE).status, bs.prospect(GUEST).stage) == ("cancelled", "lead")
    moves = db.session.execute(select(OutboundEvent.data).where(
        OutboundEvent.type == "prospect.updated").order_by(OutboundEvent.id)).scalars()
    assert [(d["previous_stage"], d["stage"]) for d in moves if "previous_stage" in d] == [
        ("lead", "booked"), ("booked", "lead")]
    assert bs.count(Lead) == 1


def test_replays_and_late_arrivals_never_move_back_or_duplicate(client, run_worker):
    booked, form = deliver(client, run_worker, "invitee_created_qualified", "routing_form_submission_created")
    p = bs.prospect(GUEST)
    assert (p.stage, p.utm, bs.count(Lead)) == ("booked", UTM, 1)  # the form after the booking: still booked
    before = (bs.emitted(), len(notes(GUEST)))
    for event in (booked, form, booked):
        assert reprocess(event.id) == "processed"
    assert (bs.emitted(), len(notes(GUEST)), bs.count(Lead)) == (*before, 1)
    assert bs.prospect(GUEST).stage == "booked"
    m = bs.meeting("calendly", INVITEE)
    assert (m.status, m.answers, m.owner_email) == ("scheduled", BOOKING_ANSWERS, HOST)


def test_cancel_before_its_booking_keeps_the_prospect_a_lead(client, run_worker):
    deliver(client, run_worker, "invitee_canceled_qualified")
    m = bs.meeting("calendly", INVITEE)
    assert (m.status, m.answers, m.utm, m.owner_email) == ("cancelled", BOOKING_ANSWERS, UTM, HOST)
    [late] = deliver(client, run_worker, "invitee_created_qualified")
    assert late.status == "processed"
    assert (bs.meeting("calendly", INVITEE).status, bs.prospect(GUEST).stage) == ("cancelled", "lead")
    assert bs.count(Meeting) == 1


def test_legacy_v1_booking_reads_answers_tracking_and_assignee(client, run_worker, make_user):
    host_id = make_user("staff", email="omar.haddad@vani-sales.test").id
    [ev] = deliver(client, run_worker, "invitee_created_v1")
    assert ev.status == "processed", ev.outcome
    m, p = bs.meeting("calendly", "invitee:INV24680ACEG1357"), bs.prospect("kofi@harbourworks.test")
    assert m.answers == [{"question": "What brings you to Vani?", "answer": "Too many missed follow-ups"}]
    assert m.utm == {"utm_source": "newsletter", "utm_medium": "email"}
    assert (m.owner_id, p.owner_id, p.utm_source, p.stage) == (host_id, host_id, "newsletter", "booked")
