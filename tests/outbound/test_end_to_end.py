"""End to end: a signed Calendly webhook → processing → outbox → fan-out → RQ delivery job →
a subscriber receives ``meeting.scheduled`` with a valid Standard Webhooks signature."""
from __future__ import annotations

from tests.factories import BOOKING, INVITEE
from tests.outbound.helpers import subscribe, verify
from tests.signing import post_calendly
from vani.extensions import db
from vani.models import WebhookDelivery


def test_calendly_booking_reaches_the_subscriber_signed(app, client, run_worker, httpserver):
    httpserver.expect_request("/meetings").respond_with_data("ok")
    httpserver.expect_request("/all").respond_with_data("ok")
    _, meeting_secret = subscribe(httpserver.url_for("/meetings"), ["meeting.scheduled"])
    _, all_secret = subscribe(httpserver.url_for("/all"), ["*"])
    r = post_calendly(client, BOOKING)
    assert r.status_code == 200, r.get_data(as_text=True)
    run_worker()  # inbound drain → after-processing hook → deliveries job, all in one burst

    received = {}
    for request, _ in httpserver.log:
        secret = meeting_secret if request.path == "/meetings" else all_secret
        body = verify(secret, request)
        received.setdefault(request.path, []).append(body)
    [scheduled] = received["/meetings"]
    assert scheduled["type"] == "meeting.scheduled"
    assert scheduled["data"]["provider_ref"] == INVITEE and scheduled["data"]["title"] == "Discovery call"
    assert scheduled["data"]["join_url"] == "https://meet.example/abc"
    assert scheduled["data"]["start_at"].startswith("2026-02-12T14:00:00")
    assert sorted(b["type"] for b in received["/all"]) == ["meeting.scheduled", "prospect.created"]
    # the same event id goes to both subscribers; receivers dedupe on webhook-id
    assert {b["id"] for b in received["/all"] if b["type"] == "meeting.scheduled"} == {scheduled["id"]}
    assert {d.status for d in db.session.query(WebhookDelivery)} == {"delivered"}

    # Replaying the inbound event emits nothing new, so nothing is delivered twice.
    from vani.processing.events import reprocess

    reprocess(r.get_json()["event_id"])
    run_worker()
    assert db.session.query(WebhookDelivery).count() == 3
    assert len(httpserver.log) == 3
