"""The token-protected read API: events, prospects, meetings."""
from __future__ import annotations

import base64

import pytest

from tests.bookings import cal_booking, calendly, invitee_uri
from tests.signing import post_cal_com, post_calendly

PATHS = ["/api/v1/events", "/api/v1/events/1", "/api/v1/prospects", "/api/v1/prospects/1", "/api/v1/meetings"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer vani_not-a-real-token", "Basic dXNlcjpwYXNz", "vani_x"])
def test_401_without_a_valid_token(client, api_token, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = client.get(path, headers=headers)
    assert r.status_code == 401 and r.is_json and r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(client, api_token, db):
    from vani.models import ApiToken
    from vani.models.base import utcnow

    r = client.get("/api/v1/events", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 200 and r.json["data"] == []
    db.session.query(ApiToken).update({"revoked_at": utcnow()})
    db.session.commit()
    r = client.get("/api/v1/events", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    assert "data" not in r.json


@pytest.fixture
def seeded(client, run_worker):
    """Five Calendly events (two people) and three Cal.com events, processed."""
    ids = []
    for n in range(1, 4):
        ids.append(post_calendly(client, calendly("invitee.created", n, start=f"2026-01-0{n + 4}T10:00:00Z")).json)
    ids.append(post_calendly(client, calendly("invitee.canceled", 2, canceled_at="2026-01-03T00:00:00Z")).json)
    ids.append(post_calendly(client, calendly("invitee.created", 4, email="Other@Example.test", name="Other")).json)
    ids.append(post_cal_com(client, cal_booking("BOOKING_CREATED", "c1")).json)
    ids.append(post_cal_com(client, cal_booking("BOOKING_NO_SHOW_UPDATED", "ghost", start=None)).json)
    ids.append(post_cal_com(client, {"triggerEvent": "FORM_SUBMITTED", "payload": {}}).json)
    run_worker()
    return [i["event_id"] for i in ids]


def test_events_newest_first_with_keyset_pages(api, seeded):
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get("/api/v1/events?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        seen += [e["id"] for e in r.json["data"]]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seeded, reverse=True) and pages == 3
    assert set(r.json["data"][0]) >= {"id", "provider", "type", "status", "outcome", "received_at", "verified"}


def test_event_filters(api, seeded):
    def ids(query):
        r = api.get("/api/v1/events?" + query)
        assert r.status_code == 200, r.json
        return [e["id"] for e in r.json["data"]]

    assert ids("provider=cal_com") == sorted(seeded[5:], reverse=True)
    assert ids("provider=calendly&type=invitee.canceled") == [seeded[3]]
    assert ids("status=ignored") == sorted(seeded[6:], reverse=True)
    assert ids("status=processed&provider=cal_com") == [seeded[5]]
    assert ids("email=OTHER@example.test") == [seeded[4]]
    assert ids("type=nothing") == []


def test_event_detail_has_payload_and_outcome(api, seeded):
    r = api.get(f"/api/v1/events/{seeded[7]}")
    assert r.status_code == 200
    assert r.json["payload"] == {"triggerEvent": "FORM_SUBMITTED", "payload": {}}
    assert r.json["status"] == "ignored" and r.json["outcome"] == "the submission's answers hold no email"
    assert r.json["headers"]["X-Cal-Signature-256"] and r.json["dedupe_key"].startswith("FORM_SUBMITTED:")
    detail = api.get(f"/api/v1/events/{seeded[0]}").json
    assert detail["payload"]["payload"]["uri"] == invitee_uri(1)
    assert detail["prospect_id"] and detail["meeting_id"]


def test_prospect_by_email_with_notes_and_meetings(api, seeded):
    r = api.get("/api/v1/prospects?email=LENA@example.test")
    [p] = r.json["data"]
    assert (p["email"], p["name"], p["source"]) == ("lena@example.test", "Lena Novak", "calendly")
    detail = api.get(f"/api/v1/prospects/{p['id']}").json
    assert [m["provider_ref"] for m in detail["meetings"]] == [invitee_uri(1), invitee_uri(2), invitee_uri(3)]
    assert [m["status"] for m in detail["meetings"]] == ["scheduled", "cancelled", "scheduled"]
    assert detail["notes"][0]["body"] == "Calendly meeting scheduled for 2026-01-05 10:00 UTC – 30 Minute Meeting"
    assert len(detail["notes"]) == 4
    assert api.get("/api/v1/prospects?email=nobody@example.test").json == {"data": [], "next_cursor": None}


def test_prospects_pages(api, seeded):
    first = api.get("/api/v1/prospects?limit=2").json
    second = api.get(f"/api/v1/prospects?limit=2&cursor={first['next_cursor']}").json
    emails = [p["email"] for p in first["data"] + second["data"]]
    assert emails == ["guest@example.test", "other@example.test", "lena@example.test"]
    assert second["next_cursor"] is None


def test_meeting_filters(api, seeded):
    def refs(query):
        r = api.get("/api/v1/meetings?" + query)
        assert r.status_code == 200, r.json
        return sorted(m["provider_ref"] for m in r.json["data"])

    assert refs("email=lena@example.test") == sorted(invitee_uri(n) for n in (1, 2, 3))
    assert refs("status=cancelled") == [invitee_uri(2)]
    assert refs("provider=cal_com") == ["c1"]
    assert refs("email=lena@example.test&status=scheduled&provider=calendly") == [invitee_uri(1), invitee_uri(3)]
    assert refs("status=no_show") == []


@pytest.mark.parametrize("path", ["/api/v1/events/999999", "/api/v1/prospects/999999",
                                  "/api/v1/events/99999999999999999999999", "/api/v1/prospects/0",
                                  "/api/v1/nothing-here"])
def test_404s_are_json(api, path):
    r = api.get(path)
    assert r.status_code == 404 and r.is_json


BAD = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|99999999999999999999999").decode()


@pytest.mark.parametrize("query,field", [
    ("events?status=done", "status"),
    ("events?provider=zoom", "provider"),
    ("events?limit=0", "limit"),
    ("events?limit=201", "limit"),
    ("events?limit=ten", "limit"),
    ("events?cursor=not-a-cursor", "cursor"),
    ("events?cursor=%FF%FE", "cursor"),
    (f"events?cursor={BAD}", "cursor"),
    (f"events?cursor={base64.urlsafe_b64encode(b'yesterday|3').decode()}", "cursor"),
    ("prospects?limit=-1", "limit"),
    ("prospects?cursor=@@", "cursor"),
    ("meetings?status=maybe", "status"),
    ("meetings?provider=nope", "provider"),
    ("meetings?limit=1.5", "limit"),
])
def test_400_on_bad_parameters(api, query, field):
    r = api.get(f"/api/v1/{query}")
    assert r.status_code == 400 and r.json == {"error": "invalid_parameter", "field": field,
                                               "detail": r.json["detail"]}
    assert r.json["detail"]
