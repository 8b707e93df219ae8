"""Backfills: every event since T that matches a subscription, sent once, as a job with progress."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import update

from tests.outbound.helpers import deliver, emit
from vani.models import Backfill, BackfillStatus, OutboundEvent, WebhookDelivery
from vani.models.base import utcnow
from vani.outbound import backfill
from vani.work import drain

SUBS = "/api/v1/webhooks/subscriptions"


def run_backfills() -> None:
    while drain("backfills"):
        pass


def test_a_backfill_sends_the_matching_events_since_t_once(api, db, httpserver):
    httpserver.expect_request("/late").respond_with_data("ok")
    for n in range(5):
        emit("meeting.scheduled", {"provider": "calendly" if n % 2 == 0 else "cal_com", "n": n})
    emit("prospect.created", {"id": 9, "n": 99})
    db.session.execute(update(OutboundEvent).where(OutboundEvent.data["n"].as_integer() == 0)
                       .values(created_at=utcnow() - timedelta(days=3)))  # before "since"
    db.session.commit()
    sub = api.post(SUBS, json={"url": httpserver.url_for("/late"), "events": ["meeting.*"],
                               "filter": ['data.provider = "calendly"']}).get_json()
    since = (utcnow() - timedelta(days=1)).isoformat()
    r = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": since})
    assert r.status_code == 202, r.get_json()
    started = r.get_json()
    assert started["status"] == "pending" and started["total"] == 5 and started["progress"] == 0
    run_backfills()
    done = api.get(f"{SUBS}/{sub['id']}/backfills/{started['id']}").get_json()
    assert (done["status"], done["scanned"], done["deliveries_created"], done["progress"]) == ("done", 5, 2, 1.0)
    deliver()
    assert sorted(req.get_json()["data"]["n"] for req, _ in httpserver.log) == [2, 4]
    # Run again: nothing is sent twice.
    again = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": since}).get_json()
    run_backfills()
    assert api.get(f"{SUBS}/{sub['id']}/backfills/{again['id']}").get_json()["deliveries_created"] == 0
    assert db.session.query(WebhookDelivery).count() == 2
    listed = api.get(f"{SUBS}/{sub['id']}/backfills").get_json()["data"]
    assert [b["id"] for b in listed] == [again["id"], started["id"]]


def test_a_long_backfill_continues_across_claims_and_keeps_its_progress(app, api, db, httpserver, monkeypatch):
    for n in range(7):
        emit("meeting.scheduled", {"n": n})
    sub = api.post(SUBS, json={"url": httpserver.url_for("/x"), "events": ["*"]}).get_json()
    monkeypatch.setattr(backfill, "CHUNK", 2)
    monkeypatch.setattr(backfill, "BUDGET_SECONDS", 0.0)  # hand back after every chunk
    started = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": "2000-01-01T00:00:00Z"}).get_json()
    chunks = []
    real_chunk = backfill._chunk
    monkeypatch.setattr(backfill, "_chunk", lambda *a: chunks.append(a[2]) or real_chunk(*a))
    run_backfills()
    row = db.session.get(Backfill, started["id"], populate_existing=True)
    assert row.status == BackfillStatus.DONE and (row.scanned, row.created, row.total) == (7, 7, 7)
    # One chunk per claim, each claim continuing from the cursor the last one wrote; handing
    # back is not a failed attempt (only the claim that finished counts).
    assert len(chunks) == 5 and chunks == sorted(set(chunks)) and row.attempts == 1
    assert Counter(d.outbound_event_id for d in db.session.query(WebhookDelivery)).most_common(1)[0][1] == 1


def test_bad_backfills_are_refused(api, httpserver):
    sub = api.post(SUBS, json={"url": httpserver.url_for("/x"), "events": ["*"]}).get_json()
    future = (utcnow() + timedelta(hours=1)).isoformat()
    r = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": future})
    assert r.status_code == 400 and r.get_json()["field"] == "since"
    assert api.post(f"{SUBS}/{sub['id']}/backfills", json={}).get_json()["field"] == "since"
    refused = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": "yesterday"})
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "since"
    refused = api.post(f"{SUBS}/987654/backfills", json={"since": "2026-01-01T00:00:00Z"})
    assert refused.status_code == 404
    assert refused.json["error"] == "not_found"
    api.patch(f"{SUBS}/{sub['id']}", json={"active": False})
    off = api.post(f"{SUBS}/{sub['id']}/backfills", json={"since": "2026-01-01T00:00:00Z"})
    assert off.status_code == 409
    empty = api.post(f"{SUBS}/{sub['id']}", json={})  # POST on the item is not a route
    assert empty.status_code == 405


def test_the_dashboard_starts_a_backfill_and_shows_its_progress(api, login, db, httpserver):
    emit("meeting.scheduled", {"n": 1})
    sub = api.post(SUBS, json={"url": httpserver.url_for("/x"), "events": ["*"]}).get_json()
    client = login("admin")
    r = client.post(f"/dashboard/subscriptions/{sub['id']}/backfill",
                    data={"since": "2000-01-01T00:00", "csrf_token": client.csrf})
    assert r.status_code == 303
    run_backfills()
    page = client.get(f"/dashboard/subscriptions/{sub['id']}").get_data(as_text=True)
    assert "Backfill" in page and "1 / 1" in page and "done" in page
    bad = client.post(f"/dashboard/subscriptions/{sub['id']}/backfill", data={"since": "", "csrf_token": client.csrf})
    assert bad.status_code == 400
