"""Cal.com leads and qualification end to end (signed HTTP endpoint + worker burst): routing-form
submissions, booking answers, UTM and host, payment started, Cal Video no-shows, recordings."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests import bookings as bs
from tests.signing import post_cal_com
from vani.extensions import db
from vani.models import Lead, Meeting
from vani.processing.events import reprocess

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cal_com"
GUEST, HOST, UID = "priya@acme.test", "hana@vani-sales.test", "pB7uVx3qRkN1cLw9"
BOOKING_ANSWERS = [
    {"question": "How many sellers are on your team?", "answer": "11-50"},
    {"question": "Which CRM do you use?", "answer": "HubSpot, Sheets"},
    {"question": "Additional notes", "answer": "We lose leads between forms and calls."},
]


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def deliver(client, run_worker, *names: str):
    return bs.deliver(post_cal_com, client, run_worker, *(load(n) for n in names))


def notes(email: str) -> list[str]:
    return [n.body for n in bs.prospect(email).notes]


def test_form_submission_becomes_one_lead(client, run_worker):
    [ev] = deliver(client, run_worker, "form_submitted")
    assert ev.status == "processed", ev.outcome
    p = bs.prospect("marco@northwind.test")
    assert (p.name, p.phone, p.stage) == ("Marco Rossi", "+393331234567", "lead")
    assert (p.utm_source, p.utm) == ("google", {"utm_source": "google", "utm_campaign": "brand"})
    lead = db.session.execute(select(Lead)).scalar_one()
    assert (lead.prospect_id, lead.form_name, lead.form_ref) == (p.id, "Qualify inbound",
                                                                  "5f1c2a7e-3b8d-4e61-9a0f-2d7c8b4e6a11")
    assert lead.answers == [
        {"question": "Email", "answer": "marco@northwind.test"}, {"question": "Full name", "answer": "Marco Rossi"},
        {"question": "Phone", "answer": "+39 333 123 4567"}, {"question": "Team size", "answer": "11-50"},
        {"question": "What do you want to fix?", "answer": "Follow-up after demos"}]
    assert notes("marco@northwind.test") == ["Qualify inbound submitted:\nEmail: marco@northwind.test\n"
                                             "Full name: Marco Rossi\nPhone: +39 333 123 4567\nTeam size: 11-50\n"
                                             "What do you want to fix?: Follow-up after demos"]
    assert reprocess(ev.id) == "processed"
    assert bs.count(Lead) == 1 and len(notes("marco@northwind.test")) == 1
    assert bs.emitted()["lead.created"] == 1


def test_form_without_email_is_ignored_with_the_reason(client, run_worker):
    [ev] = deliver(client, run_worker, "form_submitted_no_event_without_email")
    assert (ev.status, ev.outcome) == ("ignored", "the submission's answers hold no email")
    assert bs.count(Lead) == 0 and bs.prospect("initech") is None


def test_booking_answers_utm_owner_and_the_whole_meeting(client, run_worker, make_user):
    host_id = make_user("staff", email=HOST).id
    [ev] = deliver(client, run_worker, "booking_created_with_answers")
    assert ev.status == "processed", ev.outcome
    ids = [ev.id]
    m, p = bs.meeting("cal_com", UID), bs.prospect(GUEST)
    assert (m.status, m.booking_id, m.answers) == ("scheduled", "4211", BOOKING_ANSWERS)
    assert m.utm == {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "q1-demo"}
    assert (m.owner_email, m.owner_id, p.owner_id, p.owner_email) == (HOST, host_id, host_id, HOST)
    assert (p.stage, p.utm_source, p.phone) == ("booked", "linkedin", "+919812345678")

    [pay] = deliver(client, run_worker, "booking_payment_initiated")
    m = bs.meeting("cal_com", UID)
    ids.append(pay.id)
    assert pay.status == "processed" and bs.same_utc(m.payment_started_at, "2026-03-01T09:01:00Z")
    assert (m.paid_at, m.status, bs.prospect(GUEST).stage) == (None, "scheduled", "booked")

    deliver(client, run_worker, "meeting_started")
    assert bs.meeting("cal_com", UID).status == "in_progress"
    assert bs.emitted()["meeting.started"] == 1

    deliver(client, run_worker, "recording_ready", "recording_transcription_generated")
    m = bs.meeting("cal_com", UID)
    assert m.recording_url == "https://app.cal.com/api/video/recording?token=rec-4211"
    assert m.transcript_url == "https://daily.example/transcripts/4211.json"

    [hosts] = deliver(client, run_worker, "after_hosts_cal_video_no_show")
    ids.append(hosts.id)
    assert hosts.status == "processed" and bs.meeting("cal_com", UID).status == "in_progress"
    [guests] = deliver(client, run_worker, "after_guests_cal_video_no_show")
    ids.append(guests.id)
    assert guests.status == "processed" and bs.meeting("cal_com", UID).status == "no_show"
    assert bs.prospect(GUEST).stage == "no_show"
    assert notes(GUEST) == [
        "Cal.com meeting scheduled for 2026-03-03 10:00 UTC – Demo between Hana Host and Priya Buyer",
        "Payment started, not completed: 49.00 EUR – Demo between Hana Host and Priya Buyer",
        "Cal.com meeting started – Demo between Hana Host and Priya Buyer",
        "Cal.com recording ready: https://app.cal.com/api/video/recording?token=rec-4211",
        "Cal.com transcript ready: https://daily.example/transcripts/4211.json",
        "Cal Video: the host hana@vani-sales.test did not join (Host with email hana@vani-sales.test didn't join "
        "the call or didn't join before 2026-03-03 10:05:00 +00:00)",
        "Cal Video: the guest did not join (Guest didn't join the call or didn't join before "
        "2026-03-03 10:05:00 +00:00)",
    ]
    # Replaying everything changes nothing: no stage moves back, no note or event twice.
    before = (bs.emitted(), len(notes(GUEST)))
    for event_id in ids:
        reprocess(event_id)
    assert (bs.emitted(), len(notes(GUEST))) == before
    assert (bs.meeting("cal_com", UID).status, bs.prospect(GUEST).stage) == ("no_show", "no_show")


def test_unknown_booking_id_is_ignored_with_the_reason(client, run_worker):
    evs = deliver(client, run_worker, "after_guests_cal_video_no_show", "recording_ready")
    assert [(e.status, e.outcome) for e in evs] == [
        ("ignored", "no meeting is known for Cal.com booking 4211")] * 2
    assert bs.count(Meeting) == 0


def test_out_of_order_never_moves_the_stage_back(client, run_worker):
    deliver(client, run_worker, "form_submitted")
    form = load("form_submitted")
    form["payload"]["Email"] = form["payload"]["responses"]["Email"]["value"] = GUEST
    bs.deliver(post_cal_com, client, run_worker, form)
    assert bs.prospect(GUEST).stage == "lead"
    deliver(client, run_worker, "meeting_started")  # before the booking itself
    assert (bs.meeting("cal_com", UID).status, bs.prospect(GUEST).stage) == ("in_progress", "booked")
    late_id = deliver(client, run_worker, "booking_created_with_answers")[0].id
    m = bs.meeting("cal_com", UID)
    assert (m.status, m.answers, bs.prospect(GUEST).stage) == ("in_progress", BOOKING_ANSWERS, "booked")
    deliver(client, run_worker, "after_guests_cal_video_no_show")
    reprocess(late_id)
    assert (bs.meeting("cal_com", UID).status, bs.prospect(GUEST).stage) == ("no_show", "no_show")
    assert bs.count(Lead) == 2 and bs.count(Lead, Lead.prospect_id == bs.prospect(GUEST).id) == 1
