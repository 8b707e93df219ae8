"""Every captured Calendly and Cal.com payload, signed here, posted to its endpoint and processed
by a real worker burst."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import bookings as bs
from tests.paths import SHARED_FIXTURES, shared_fixture_dir
from tests.signing import post_cal_com, post_calendly
from vani.extensions import db
from vani.models import Meeting, Notification, OutboundEvent, ProspectNote, WebhookEvent

POST = {"calendly": post_calendly, "cal_com": post_cal_com}


def fixture_files(provider: str) -> list[Path]:
    folder = SHARED_FIXTURES / provider
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.endswith(".headers.json"))


ALL_FILES = [(prov, path.name) for prov in POST for path in fixture_files(prov)] or [("calendly", "absent")]


def post_file(client, provider: str, name: str):
    body = (shared_fixture_dir(provider) / name).read_bytes()
    return POST[provider](client, body)


@pytest.mark.parametrize("provider,name", ALL_FILES)
def test_each_fixture_alone_is_processed_or_ignored_with_reason(client, run_worker, provider, name):
    r = post_file(client, provider, name)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "accepted"
    assert run_worker() >= 1
    ev = bs.event(r.json["event_id"])
    assert ev.verified is True
    assert ev.status in ("processed", "ignored"), ev.outcome
    if ev.status == "ignored":
        assert ev.outcome  # always says why
    assert ev.attempts == 1


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def same_time(value: datetime | None, text: str) -> bool:
    value = value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value == when(text)


@pytest.fixture
def everything(client, run_worker):
    """All fixture files of both providers posted in name order, then one worker burst."""
    responses = {}
    for provider in POST:
        for path in fixture_files(provider) or [shared_fixture_dir(provider)]:
            responses[path.name] = post_file(client, provider, path.name)
    assert all(r.status_code == 200 for r in responses.values())
    run_worker()
    return responses


def test_all_fixtures_together_end_states(everything):
    statuses = {name: bs.event(r.json["event_id"]) for name, r in everything.items()}
    assert not [n for n, ev in statuses.items() if ev.status not in ("processed", "ignored")]
    ignored = {n: ev.outcome for n, ev in statuses.items() if ev.status == "ignored"}
    # The tiny no-show updates refer to a booking these fixtures never create: ignored, with why.
    assert set(ignored) == {"docs_booking_no_show_updated_marked.json", "docs_booking_no_show_updated_unmarked.json"}
    assert all("no meeting for booking 5vQFqxDFMjdgKGMijqtqRw" in why for why in ignored.values())
    # Two captures of one Calendly delivery (same invitee, same creation time) store one event.
    assert everything["castor_invitee_created_zoom_1on1_it_support.json"].json["status"] == "duplicate"
    assert (everything["castor_invitee_created_zoom_1on1_it_support.json"].json["event_id"]
            == everything["castor_invitee_created_zoom_1on1.json"].json["event_id"])


def test_calendly_fixture_results(everything):
    sergio = bs.prospect("user01@example.com")
    assert (sergio.name, sergio.phone, sergio.timezone, sergio.source) == (
        "Sergio Renhe", "+15550100002", "America/Los_Angeles", "calendly")
    zoom = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/e3b3306c-64f8-4519-b7f1-c26332384860"
                                  "/invitees/b11d9641-9974-4853-9ed4-6a3d4195df55")
    assert zoom.status == "scheduled" and zoom.prospect_id == sergio.id
    assert zoom.title == "Testing onboarding session" and zoom.location_type == "zoom"
    assert same_time(zoom.start_at, "2023-07-25T16:30:00Z") and same_time(zoom.end_at, "2023-07-25T16:50:00Z")
    assert zoom.join_url == "https://calbright.zoom.us/j/82821007489?pwd=OWY3aTZ1bXdzZ2V5UG5SMXNFNDdDZz09"
    assert [n.body for n in sergio.notes] == [
        "Calendly meeting scheduled for 2023-07-25 16:30 UTC – Testing onboarding session"]

    # A custom location that is a URL is the join URL; a phone call or a room has none.
    group = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/074be4fa-7d40-4eac-b488-dd63e0ae91cc"
                                   "/invitees/33898810-e533-4cf2-a881-3ada2350087f")
    assert group.join_url.startswith("https://calbright.zoom.us/j/5497815748") and group.location_type == "custom"
    assert bs.prospect("user07@example.com").phone == "+15550100021"
    call = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/7949d0df")
    assert call.status == "rescheduled" and call.join_url is None and call.location_type == "outbound_call"
    assert call.cancellation_reason.startswith("Hi Foo,")

    # 2020 shape: no scheduled_event, the cancel has a null name; created then cancelled.
    betty = bs.prospect("betty@example.com")
    old = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/DDVRNUTABYGF4LO2/invitees/AHT4VZ5PQYFOSTFB")
    assert betty.name == "Betty" and betty.timezone == "America/New_York"
    assert old.status == "cancelled" and old.start_at is None and old.prospect_id == betty.id

    # The reschedule pair and the later cancel of the new meeting.
    first = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/e0a1c3d5-7b9f-4a2c-8e6d-000000000001"
                                   "/invitees/1a2b3c4d-5e6f-4a7b-8c9d-000000000001")
    second = bs.meeting("calendly", "https://api.calendly.com/scheduled_events/e0a1c3d5-7b9f-4a2c-8e6d-000000000002"
                                    "/invitees/1a2b3c4d-5e6f-4a7b-8c9d-000000000002")
    assert first.status == "rescheduled" and first.replaces_id is None
    assert second.replaces_id == first.id and second.status == "cancelled"
    assert same_time(second.start_at, "2026-10-16T21:30:00Z") and second.location_type == "physical"
    assert second.join_url is None


def test_cal_com_fixture_results(everything):
    host = bs.prospect("host@example.com")
    assert (host.name, host.timezone, host.source) == ("simone bonfante", "Europe/Rome", "cal_com")
    created = bs.meeting("cal_com", "mMZAwLvZ759AUffL61hj66")
    assert created.status == "scheduled" and created.join_url == "https://app.cal.com/video/mMZAwLvZ759AUffL61hj66"
    assert same_time(created.start_at, "2026-08-13T09:00:00Z") and created.location_type == "integrations:daily"

    # ideSb… → ovsVi7… → hXBtFar… (then cancelled; the cancel was posted before its reschedule).
    first = bs.meeting("cal_com", "ideSbZgh1rxn6JXSq4b4jd")
    second = bs.meeting("cal_com", "ovsVi7iaqqYAfx62N7bnfy")
    third = bs.meeting("cal_com", "hXBtFar1ZUCZci4qszEbs2")
    assert (first.status, second.status, third.status) == ("rescheduled", "rescheduled", "cancelled")
    assert second.replaces_id == first.id and third.replaces_id == second.id
    assert same_time(first.start_at, "2026-09-11T08:30:00Z")  # from rescheduleStartTime
    assert same_time(third.start_at, "2026-09-18T08:00:00Z")
    assert third.cancellation_reason == "Dummy text canceling event"

    asked = bs.meeting("cal_com", "fMQVWeV9Qvqm5NjTZm2w1E")
    assert asked.status == "cancelled"
    assert any("asked to reschedule" in n.body for n in db.session.execute(
        select(ProspectNote).where(ProspectNote.meeting_id == asked.id)).scalars())

    guest = bs.prospect("guest@example.com")
    by_guest = bs.meeting("cal_com", "9f1wLNY9hn3ZMxc9L8fA5f")
    assert by_guest.prospect_id == guest.id and by_guest.status == "cancelled"
    assert by_guest.replaces_id == bs.meeting("cal_com", "dFcnoaXSPXR7kZP6d3A7gj").id

    paid = bs.meeting("cal_com", "unique-booking-uid")
    assert paid.status == "scheduled" and paid.payment_amount == Decimal("10.00") and paid.payment_currency == "USD"
    ended = bs.meeting("cal_com", "unique-booking-identifier")
    assert ended.status == "completed"  # MEETING_STARTED, processed after it, does not reopen it
    kinds = {(n.kind, n.meeting_id) for n in db.session.execute(select(Notification)).scalars()}
    assert ("payment.received", paid.id) in kinds and ("meeting.completed", ended.id) in kinds


def test_replaying_every_fixture_changes_and_emits_nothing(everything, app):
    from vani.processing.events import reprocess

    before = (bs.outbox_keys(), bs.count(ProspectNote), bs.count(Notification), bs.count(Meeting),
              sorted((m.provider_ref, m.status, m.replaces_id) for m in db.session.execute(select(Meeting)).scalars()))
    assert bs.count(OutboundEvent) > 20
    ids = sorted(db.session.execute(select(WebhookEvent.id)).scalars())
    for event_id in ids:
        assert reprocess(event_id) in ("processed", "ignored")
    db.session.expire_all()
    after = (bs.outbox_keys(), bs.count(ProspectNote), bs.count(Notification), bs.count(Meeting),
             sorted((m.provider_ref, m.status, m.replaces_id) for m in db.session.execute(select(Meeting)).scalars()))
    assert after == before


def test_fixture_payload_is_stored_byte_exact(client):
    path = (fixture_files("cal_com") or [shared_fixture_dir("cal_com")])[0]
    body = path.read_bytes()
    r = post_cal_com(client, body)
    ev = bs.event(r.json["event_id"])
    assert bytes(ev.body) == body and ev.payload == json.loads(body)
    assert ev.headers.get("X-Cal-Signature-256")
