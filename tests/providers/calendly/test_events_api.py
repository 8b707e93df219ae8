"""GET /api/v1/calendly/events: the Calendly bookings the organisation holds, one per invitee
with its scheduled event, paginated like every list, read scope, in the OpenAPI document."""
from __future__ import annotations

from tests import bookings as bs
from tests.bookings import CALENDLY_EVENT, cal_booking, calendly, invitee_uri
from tests.signing import post_cal_com, post_calendly
from vani import orgs, tenancy
from vani.accounts.tokens import create_token
from vani.extensions import db
from vani.models import Meeting, Prospect


def book(client, run_worker, *bodies):
    return bs.deliver(post_calendly, client, run_worker, *bodies)


def test_lists_calendly_bookings_newest_first_with_their_scheduled_event(client, api, run_worker):
    book(client, run_worker, calendly("invitee.created", 1, created_at="2026-01-01T09:00:00.000000Z"),
         calendly("invitee.created", 2, email="omar@example.test", name="Omar Haddad",
                  created_at="2026-01-02T09:00:00.000000Z"))
    bs.deliver(post_cal_com, client, run_worker, cal_booking("BOOKING_CREATED", "cal-uid-1"))
    r = api.get("/api/v1/calendly/events")
    assert r.status_code == 200, r.json
    data = r.json["data"]
    assert [e["invitee"] for e in data] == [invitee_uri(2), invitee_uri(1)]  # Cal.com's booking is not listed
    first = data[0]
    assert first["scheduled_event"] == CALENDLY_EVENT.format(n=2)
    assert (first["invitee_email"], first["invitee_name"], first["provider"]) == (
        "omar@example.test", "Omar Haddad", "calendly")
    assert (first["title"], first["status"], first["start_at"]) == (
        "30 Minute Meeting", "scheduled", "2026-01-05T10:00:00Z")
    assert r.json["next_cursor"] is None


def test_pages_and_filters(client, api, run_worker):
    book(client, run_worker, *(calendly("invitee.created", n, email=f"g{n}@example.test",
                                        created_at=f"2026-01-0{n}T09:00:00.000000Z") for n in (1, 2, 3)))
    book(client, run_worker, calendly("invitee.canceled", 2, email="g2@example.test",
                                      created_at="2026-01-02T09:00:00.000000Z", canceled_at="2026-01-04T09:00:00Z"))
    page1 = api.get("/api/v1/calendly/events?limit=2").json
    page2 = api.get(f"/api/v1/calendly/events?limit=2&cursor={page1['next_cursor']}").json
    assert [e["invitee"] for e in page1["data"] + page2["data"]] == [invitee_uri(3), invitee_uri(2), invitee_uri(1)]
    assert page2["next_cursor"] is None
    canceled = api.get("/api/v1/calendly/events?status=cancelled").json["data"]
    assert [e["invitee"] for e in canceled] == [invitee_uri(2)]
    by_email = api.get("/api/v1/calendly/events?email=G3@Example.test").json["data"]
    assert [e["invitee"] for e in by_email] == [invitee_uri(3)]
    by_event = api.get("/api/v1/calendly/events", query_string={"scheduled_event": CALENDLY_EVENT.format(n=1)})
    assert [e["invitee"] for e in by_event.json["data"]] == [invitee_uri(1)]


def test_bad_parameters_are_400(api):
    for query, field in (("status=maybe", "status"), ("limit=0", "limit"), ("cursor=nope", "cursor")):
        r = api.get(f"/api/v1/calendly/events?{query}")
        assert r.status_code == 400 and r.json["field"] == field, (query, r.json)


def test_a_read_token_may_list_and_no_token_may_not(client, run_worker):
    book(client, run_worker, calendly("invitee.created", 1))
    _, token = create_token("reader", ["read"])
    r = client.get("/api/v1/calendly/events", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(r.json["data"]) == 1
    assert client.get("/api/v1/calendly/events").status_code == 401


def test_another_organisations_bookings_are_not_listed(client, api, run_worker):
    book(client, run_worker, calendly("invitee.created", 1))
    theirs = orgs.create("Theirs Ltd").id
    with tenancy.acting_for(theirs):
        prospect = Prospect(email="secret@theirs.test", name="Theirs")
        db.session.add(prospect)
        db.session.flush()
        db.session.add(Meeting(provider="calendly", provider_ref=invitee_uri("theirs"), prospect_id=prospect.id))
        db.session.commit()
    data = api.get("/api/v1/calendly/events").json["data"]
    assert [e["invitee"] for e in data] == [invitee_uri(1)]


def test_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/calendly/events"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"email", "status", "scheduled_event", "limit", "cursor"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/CalendlyEventPage")
    event = doc["components"]["schemas"]["CalendlyEvent"]
    assert {"scheduled_event", "invitee", "invitee_email"} <= set(event["properties"])
