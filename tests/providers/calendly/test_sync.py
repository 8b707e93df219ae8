"""Calendly sync against a fake Calendly API: pagination, rate limits, no duplicates after webhooks."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from werkzeug import Response

from tests.signing import post_calendly
from vani.models import Meeting, MeetingStatus, Prospect, WebhookEvent
from vani.providers.calendly.sync import bodies_for, sync


def json_response(data, status=200, headers=None) -> Response:
    return Response(json.dumps(data), status, headers=headers or {}, content_type="application/json")


class FakeCalendlyEvents:
    """/users/me, /scheduled_events and /scheduled_events/<uuid>/invitees, two pages each where it can."""

    def __init__(self, server):
        self.server = server
        self.base = server.url_for("").rstrip("/")
        self.user, self.org = f"{self.base}/users/U1", f"{self.base}/organizations/O1"
        self.events = [self.event("E1", "2030-05-01T10:00:00.000000Z"), self.event("E2", "2030-05-02T10:00:00.000000Z"),
                       self.event("E3", "2030-05-03T10:00:00.000000Z")]
        self.invitees = {
            "E1": [self.invitee("E1", "A", "ana@example.com"),
                   self.invitee("E1", "B", "bo@example.com", status="canceled", cancellation={
                       "canceled_by": "Bo", "canceler_type": "invitee", "reason": "double booked",
                       "created_at": "2030-04-20T08:00:01.123456Z"})],
            "E2": [self.invitee("E2", "C", "cy@example.com", no_show={
                "uri": f"{self.base}/invitee_no_shows/N1", "created_at": "2030-05-02T10:20:00.000000Z"})],
            "E3": [self.invitee("E3", "D", "ana@example.com")],
        }
        self.rate_limit = False  # answer one 429 (tests that inject a sleep turn it on)
        server.expect_request("/users/me").respond_with_json(
            {"resource": {"uri": self.user, "current_organization": self.org, "name": "Sam"}})
        server.expect_request("/scheduled_events").respond_with_handler(self.list_events)
        server.expect_request(re.compile(r"^/scheduled_events/E\d/invitees$")).respond_with_handler(self.list_invitees)

    def event(self, uuid: str, start: str) -> dict:
        return {"uri": f"{self.base}/scheduled_events/{uuid}", "name": f"Demo {uuid}", "status": "active",
                "start_time": start, "end_time": start.replace("10:00", "10:30"), "event_type": f"{self.base}/event_types/T",
                "location": {"type": "zoom", "join_url": f"https://zoom.example.com/j/{uuid}"},
                "created_at": "2030-04-01T00:00:00.000000Z", "updated_at": "2030-04-01T00:00:00.000000Z",
                "event_memberships": [{"user": self.user}]}

    def invitee(self, event: str, uuid: str, email: str, status: str = "active", **extra) -> dict:
        return {"uri": f"{self.base}/scheduled_events/{event}/invitees/{uuid}", "email": email,
                "name": email.split("@")[0].title(), "status": status, "timezone": "Europe/Oslo",
                "event": f"{self.base}/scheduled_events/{event}", "created_at": f"2030-04-1{len(uuid)}T09:00:00.654321Z",
                "updated_at": "2030-04-20T08:00:01.123456Z", "rescheduled": False, "old_invitee": None,
                "new_invitee": None, "cancellation": None, "no_show": None, "payment": None,
                "text_reminder_number": None, "questions_and_answers": [], **extra}

    def list_events(self, request):
        if request.args.get("page_token") == "EVENTS-2":
            return json_response({"collection": self.events[2:], "pagination": {"next_page_token": None}})
        return json_response({"collection": self.events[:2], "pagination": {
            "next_page_token": "EVENTS-2", "next_page": f"{self.base}/scheduled_events?page_token=EVENTS-2"}})

    def list_invitees(self, request):
        uuid = request.path.split("/")[2]
        items = self.invitees[uuid]
        if uuid == "E2" and self.rate_limit:
            self.rate_limit = False
            return json_response({"title": "Too Many Requests"}, 429, {"Retry-After": "5"})
        if uuid == "E1" and request.args.get("page_token") != "INV-2":
            return json_response({"collection": items[:1], "pagination": {"next_page_token": "INV-2"}})
        if uuid == "E1":
            return json_response({"collection": items[1:], "pagination": {"next_page_token": None}})
        return json_response({"collection": items, "pagination": {"next_page_token": None}})


@pytest.fixture
def fake(app, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="cal-token")
    return FakeCalendlyEvents(httpserver)


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_sync_follows_pages_waits_on_429_and_maps_everything(app, db, fake):
    fake.rate_limit = True
    slept: list[float] = []
    result = sync(sleep=slept.append)
    assert slept == [5.0]
    assert (result.scheduled_events, result.invitees) == (3, 4)
    # A, B (created + canceled), C (created + no-show), D
    assert (result.stored, result.processed, result.failed, result.already_known) == (6, 6, 0, 0)
    event_queries = [dict(r.args) for r, _ in fake.server.log if r.path == "/scheduled_events"]
    assert event_queries[0]["organization"] == fake.org and event_queries[0]["count"] == "100"
    assert event_queries[1]["page_token"] == "EVENTS-2"
    assert any(r.args.get("page_token") == "INV-2" for r, _ in fake.server.log if "/E1/" in r.path)

    meetings = {m.provider_ref.rsplit("/", 1)[-1]: m for m in db.session.execute(select(Meeting)).scalars()}
    assert set(meetings) == {"A", "B", "C", "D"}
    assert meetings["B"].status == MeetingStatus.CANCELLED
    assert meetings["C"].status == MeetingStatus.NO_SHOW
    assert meetings["A"].status == MeetingStatus.SCHEDULED and meetings["A"].title == "Demo E1"
    assert count(db, Prospect) == 3  # ana booked twice
    events = list(db.session.execute(select(WebhookEvent)).scalars())
    assert all(e.verified and e.headers == {"X-Vani-Source": "calendly-sync"} for e in events)


def test_sync_twice_stores_nothing_new(app, db, fake):
    sync(sleep=lambda s: None)
    again = sync(sleep=lambda s: None)
    assert (again.stored, again.already_known) == (0, 6)
    assert count(db, WebhookEvent) == 6 and count(db, Meeting) == 4


def test_sync_after_webhooks_creates_no_duplicates(app, db, client, fake, run_worker):
    # The webhook for invitee A arrived earlier, with Calendly's own timestamps.
    event = fake.events[0]
    [created] = [b for b in bodies_for(fake.invitees["E1"][0], event, fake.user)]
    created["created_at"] = "2030-04-11T09:00:01.000000Z"  # a key the sync would not produce
    assert post_calendly(client, created).status_code == 200
    run_worker()
    assert count(db, Meeting) == 1 and count(db, Prospect) == 1

    result = sync(sleep=lambda s: None)
    assert result.already_known == 1 and result.stored == 5
    assert count(db, Meeting) == 4 and count(db, Prospect) == 3
    assert count(db, WebhookEvent, WebhookEvent.event_type == "invitee.created") == 4


def test_bodies_for_a_canceled_invitee(fake):
    invitee = fake.invitees["E1"][1]
    created, canceled = bodies_for(invitee, fake.events[0], fake.user)
    assert created["event"] == "invitee.created" and created["payload"]["status"] == "active"
    assert created["payload"]["cancellation"] is None
    assert created["created_at"] == "2030-04-11T09:00:00.000000Z"  # whole seconds, like a delivery
    assert canceled["event"] == "invitee.canceled" and canceled["created_at"] == "2030-04-20T08:00:01.000000Z"
    assert canceled["payload"]["cancellation"]["reason"] == "double booked"
    assert invitee["status"] == "canceled"  # the input is not changed


def test_cli_sync(app, fake):
    result = app.test_cli_runner().invoke(args=["vani", "calendly", "sync", "--since", "2030-04-01"])
    assert result.exit_code == 0, result.output
    assert "3 scheduled event(s), 4 invitee(s)" in result.output and "stored 6 new event(s)" in result.output
    since = [r.args["min_start_time"] for r, _ in fake.server.log if r.path == "/scheduled_events"][0]
    assert since == "2030-04-01T00:00:00.000000Z"
    bad = app.test_cli_runner().invoke(args=["vani", "calendly", "sync", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_cli_without_token(app):
    app.config["CALENDLY_API_TOKEN"] = None
    result = app.test_cli_runner().invoke(args=["vani", "calendly", "sync"])
    assert result.exit_code == 1 and "CALENDLY_API_TOKEN is not set" in result.output


def test_api_sync_wait_and_status(app, db, api, fake):
    response = api.post("/api/v1/calendly/sync", json={"since": "2030-04-01", "wait": True})
    assert response.status_code == 200, response.json
    assert response.json["result"]["stored"] == 6
    status = api.get("/api/v1/calendly/status").json
    assert status["configured"] is True
    assert status["connection"] == {"ok": True, "user": fake.user, "name": "Sam", "organization": fake.org}
    assert status["last_sync"]["stored"] == 6
    assert status["last_event"]["provider"] == "calendly"
    assert status["webhook"] is None
    offline = api.get("/api/v1/calendly/status?check=false").json
    assert offline["connection"] is None


def test_api_sync_queued_runs_in_a_worker(app, db, api, fake, run_worker):
    response = api.post("/api/v1/calendly/sync")
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert run_worker() >= 1
    assert count(db, Meeting) == 4


def test_api_errors(app, api, client):
    refused = client.post("/api/v1/calendly/sync")
    assert refused.status_code == 401
    assert refused.json["error"] == "unauthorized"
    bad = api.post("/api/v1/calendly/sync", json={"since": "soon"})
    assert bad.status_code == 400 and bad.json["field"] == "since"
    app.config["CALENDLY_API_TOKEN"] = None
    missing = api.post("/api/v1/calendly/sync", json={})
    assert missing.status_code == 409 and missing.json["error"] == "not_configured"
    assert api.get("/api/v1/calendly/status").json["configured"] is False


def test_api_reports_calendly_refusals(app, api, httpserver):
    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="bad")
    httpserver.expect_request("/users/me").respond_with_response(json_response({"message": "invalid token"}, 401))
    response = api.post("/api/v1/calendly/sync", json={"wait": True})
    assert response.status_code == 502 and "CALENDLY_API_TOKEN" in response.json["detail"]
    status = api.get("/api/v1/calendly/status").json
    assert status["connection"]["ok"] is False and status["connection"]["status"] == 401
