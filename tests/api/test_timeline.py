"""A prospect's timeline through the API: every kind of entry in one list, newest first, in
keyset pages, in the OpenAPI document; the same entries as the prospect page."""
from __future__ import annotations

from tests.web.seed import T0, seed_timeline
from vani.api.openapi.models import TimelineEntry, TimelinePage
from vani.extensions import db
from vani.models import ProspectNote

def test_every_kind_in_one_list_newest_first_and_paged(api, client, run_worker):
    prospect_id = seed_timeline(client, run_worker)
    r = api.get(f"/api/v1/prospects/{prospect_id}/timeline?limit=200")
    assert r.status_code == 200, r.json
    page = TimelinePage.model_validate(r.json)
    assert page.next_cursor is None
    kinds = [e.kind for e in page.data]
    assert {"event", "meeting", "message", "email", "stage_change", "lead", "note"} <= set(kinds)
    assert [e.at for e in page.data] == sorted((e.at for e in page.data), reverse=True)
    for entry in r.json["data"]:  # each carries the object its kind names, and only that one
        assert entry[entry["kind"]]["id"] == entry["id"]
        assert not {k for k in entry if k not in ("kind", "at", "id", entry["kind"])}
    stages = [(e.stage_change.from_stage, e.stage_change.to_stage) for e in page.data if e.kind == "stage_change"]
    assert stages == [("booked", "lead"), (None, "booked")]  # newest first: the cancel, then the booking
    message = next(e for e in page.data if e.kind == "message")
    assert message.message.text == "Can we talk on Friday?" and message.at == T0
    assert next(e for e in page.data if e.kind == "lead").lead.answers == [{"question": "Team size", "answer": "12"}]

    seen, cursor, pages = [], None, 0
    while True:
        r = api.get(f"/api/v1/prospects/{prospect_id}/timeline?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200 and len(r.json["data"]) <= 2
        seen += [(e["kind"], e["id"]) for e in r.json["data"]]
        pages, cursor = pages + 1, r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [(e.kind, e.id) for e in page.data] and pages == (len(seen) + 1) // 2


def test_entries_of_one_time_keep_one_order_across_pages(api, client, run_worker):
    prospect_id = seed_timeline(client, run_worker)
    db.session.add_all([ProspectNote(prospect_id=prospect_id, body=f"same time {i}", note_key=f"same:{i}",
                                     created_at=T0) for i in range(5)])
    db.session.commit()
    whole = [(e["kind"], e["id"]) for e in api.get(f"/api/v1/prospects/{prospect_id}/timeline").json["data"]]
    seen, cursor = [], ""
    while cursor is not None:
        r = api.get(f"/api/v1/prospects/{prospect_id}/timeline?limit=3&cursor={cursor}")
        seen += [(e["kind"], e["id"]) for e in r.json["data"]]
        cursor = r.json["next_cursor"]
    assert seen == whole and len(set(seen)) == len(seen)


def test_the_prospect_page_shows_the_same_entries(api, client, run_worker, login):
    prospect_id = seed_timeline(client, run_worker)
    page = login("viewer").get(f"/dashboard/prospects/{prospect_id}").get_data(as_text=True)
    assert "Can we talk on Friday?" in page and "Asked for a discount" in page and "Contact us" in page
    assert "Pricing</strong>" in page and page.count('class="tl tl-stage_change"') == 2
    first = page.index("Asked for a discount")  # the newest entry comes first, as in the API
    assert first < page.index("Pricing</strong>") < page.index("Can we talk on Friday?") < page.index("Contact us")


def test_bad_input_is_a_clear_4xx(api, client, app):
    from vani import orgs, tenancy
    from vani.accounts.tokens import create_token
    from vani.models import Prospect

    assert api.get("/api/v1/prospects/999/timeline").status_code == 404
    other = orgs.create("Other team", slug="other").id
    with tenancy.acting_for(other):
        theirs = Prospect(org_id=other, email="x@other.test")
        db.session.add(theirs)
        db.session.commit()
        theirs_id = theirs.id
    r = api.get(f"/api/v1/prospects/{theirs_id}/timeline")
    assert r.status_code == 404 and r.json["error"] == "not_found"
    mine = Prospect(email="mine@example.test")
    db.session.add(mine)
    db.session.commit()
    r = api.get(f"/api/v1/prospects/{mine.id}/timeline?cursor=not-a-cursor")
    assert r.status_code == 400 and r.json["field"] == "cursor"
    r = api.get(f"/api/v1/prospects/{mine.id}/timeline?limit=0")
    assert r.status_code == 400 and r.json["field"] == "limit"
    emit_only = create_token("emitter", ["emit"])[1]
    r = client.get(f"/api/v1/prospects/{mine.id}/timeline", headers={"Authorization": f"Bearer {emit_only}"})
    assert r.status_code == 403 and r.json["scope"] == "read"
    assert api.get(f"/api/v1/prospects/{mine.id}/timeline").json == {"data": [], "next_cursor": None}


def test_the_document_describes_the_timeline(client):
    doc = client.get("/api/v1/openapi.json").json
    op = doc["paths"]["/api/v1/prospects/{prospect_id}/timeline"]["get"]
    assert op["x-scope"] == "read" and {p["name"] for p in op["parameters"]} == {"prospect_id", "limit", "cursor"}
    entry = doc["components"]["schemas"]["TimelineEntry"]
    assert set(entry["properties"]) >= {"kind", "at", "id", "note", "meeting", "message", "email", "stage_change",
                                        "lead", "event"}
    assert TimelineEntry.model_json_schema()["properties"]["kind"]
