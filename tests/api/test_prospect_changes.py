"""Changing prospects through the API: create, edit, owner, notes and stage moves, each told to
subscribers once, under the write scope, with Idempotency-Key."""
from __future__ import annotations

from sqlalchemy import select

from vani.accounts.tokens import create_token
from vani.models import OutboundEvent, ProspectNote

PROSPECTS = "/api/v1/prospects"


def emitted(db, type_: str) -> list[dict]:
    db.session.expire_all()
    return [e.data for e in db.session.execute(select(OutboundEvent).where(OutboundEvent.type == type_)
                                                .order_by(OutboundEvent.id)).scalars()]


def create(api, **fields) -> dict:
    r = api.post(PROSPECTS, json={"email": "lena@example.test", **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_create_then_edit_a_prospect_tells_subscribers(api, db, make_user):
    owner = make_user("staff", email="hana@example.test")
    created = create(api, name="Lena Novak", phone="+1 555 010 0031", timezone="Europe/Berlin")
    assert created["phone"] == "+15550100031" and created["source"] == "api" and created["stage"] == "lead"
    [event] = emitted(db, "prospect.created")
    assert event["id"] == created["id"] and event["changed_by"]["name"] == "API token tests"

    r = api.patch(f"{PROSPECTS}/{created['id']}", json={"name": "Lena N.", "owner_id": owner.id})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["name"] == "Lena N." and r.get_json()["owner_email"] == "hana@example.test"
    assert r.get_json()["email"] == "lena@example.test"  # left out: kept
    [update] = emitted(db, "prospect.updated")
    assert update["changed"] == ["name", "owner_email", "owner_id"] and update["owner_id"] == owner.id
    assert api.get(f"{PROSPECTS}/{created['id']}").get_json()["name"] == "Lena N."
    # The same values again change nothing and tell nobody.
    assert api.patch(f"{PROSPECTS}/{created['id']}", json={"name": "Lena N."}).status_code == 200
    assert len(emitted(db, "prospect.updated")) == 1


def test_bad_input_answers_the_field_never_a_500(api, db):
    cases = [
        ({}, 400, "email"),
        ({"email": "not-an-address"}, 400, "email"),
        ({"phone": "call me"}, 400, "phone"),
        ({"email": "a@example.test", "timezone": "Mars/Olympus"}, 400, "timezone"),
        ({"email": "a@example.test", "owner_id": 999999}, 400, "owner_id"),
        ({"email": "a@example.test", "stage": "paid"}, 400, "stage"),
        ({"email": "a@example.test", "name": 7}, 400, "name"),
        ([1, 2], 400, "body"),
    ]
    for body, status, field in cases:
        r = api.post(PROSPECTS, json=body)
        assert (r.status_code, r.get_json().get("field")) == (status, field), (body, r.get_json())
    create(api)
    taken = api.post(PROSPECTS, json={"email": "LENA@example.test"})
    assert taken.status_code == 409 and "already has" in taken.get_json()["detail"]
    assert api.patch(f"{PROSPECTS}/99999", json={"name": "x"}).status_code == 404


def test_a_stage_moves_back_only_with_a_reason_written_on_the_timeline(api, db):
    p = create(api)
    url = f"{PROSPECTS}/{p['id']}/stage"
    assert api.post(url, json={"stage": "met"}).get_json()["stage"] == "met"  # forward: free
    back = api.post(url, json={"stage": "lead"})
    assert back.status_code == 409 and back.get_json()["error"] == "reason_required"
    assert back.get_json()["field"] == "reason"
    r = api.post(url, json={"stage": "lead", "reason": "The meeting was with the wrong person"})
    assert r.status_code == 200 and r.get_json()["stage"] == "lead"
    moves = [(e["previous_stage"], e["stage"], e["stage_reason"]) for e in emitted(db, "prospect.updated")]
    assert moves == [("lead", "met", None), ("met", "lead", "The meeting was with the wrong person")]
    notes = [n["body"] for n in api.get(f"{PROSPECTS}/{p['id']}").get_json()["notes"]]
    assert notes == ["Stage moved from lead to met by API token tests.",
                     "Stage moved from met to lead by API token tests: The meeting was with the wrong person"]
    assert api.post(url, json={"stage": "won"}).get_json()["field"] == "stage"


def test_a_note_is_added_once_per_idempotency_key(api, db):
    p = create(api)
    url = f"{PROSPECTS}/{p['id']}/notes"
    first = api.post(url, json={"body": "Wants a quote for 12 seats"}, headers={"Idempotency-Key": "n-1"})
    again = api.post(url, json={"body": "Wants a quote for 12 seats"}, headers={"Idempotency-Key": "n-1"})
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert first.get_json()["source"] == "api"
    assert db.session.execute(select(ProspectNote.body)).scalars().all() == ["Wants a quote for 12 seats"]
    [event] = emitted(db, "note.created")
    assert event["note"]["id"] == first.get_json()["id"] and event["prospect"]["id"] == p["id"]
    assert api.post(url, json={"body": "  "}).get_json()["field"] == "body"
    assert api.post(url, json={"text": "x"}).get_json()["field"] == "text"


def test_an_edit_is_applied_once_per_idempotency_key(api, db, client):
    p = create(api)
    url, key = f"{PROSPECTS}/{p['id']}", {"Idempotency-Key": "edit-1"}
    first = api.patch(url, json={"name": "Lena N."}, headers=key)
    assert first.status_code == 200 and first.get_json()["name"] == "Lena N."
    assert api.patch(url, json={"name": "Lena Novak"}).get_json()["name"] == "Lena Novak"
    # A retry of the first edit, arriving after the second: the first answer, and nothing undone.
    again = api.patch(url, json={"name": "Lena N."}, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert api.get(url).get_json()["name"] == "Lena Novak"
    assert [e["name"] for e in emitted(db, "prospect.updated")] == ["Lena N.", "Lena Novak"]
    reused = api.patch(url, json={"name": "Someone else"}, headers=key)
    assert reused.status_code == 409 and reused.get_json()["error"] == "idempotency_key_reused"
    patch = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/prospects/{prospect_id}"]["patch"]
    assert "Idempotency-Key" in [param["name"] for param in patch["parameters"]]


def test_changes_need_the_write_scope(client, api, db):
    p = create(api)
    _, reader = create_token("reader", ["read"])
    _, writer = create_token("writer", ["write"])
    for token, status in ((reader, 403), (writer, 200)):
        r = client.post(f"{PROSPECTS}/{p['id']}/stage", json={"stage": "booked"},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status, r.get_json()
    assert r.get_json()["stage"] == "booked"
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/api/v1/prospects"]["post"]["security"] == [{"bearerAuth": ["write"]}]
    assert doc["paths"]["/api/v1/prospects/{prospect_id}"]["patch"]["security"] == [{"bearerAuth": ["write"]}]
    assert "write" in doc["components"]["securitySchemes"]["bearerAuth"]["description"]
    assert "note.created" in doc["webhooks"]


def test_another_organisations_prospect_is_not_found(api, db):
    from vani import orgs, tenancy

    p = create(api)
    other = orgs.create("Other Sales")
    with tenancy.acting_for(other.id):
        _, token = create_token("theirs", ["admin"])
    from flask import current_app
    theirs = current_app.test_client()
    r = theirs.patch(f"{PROSPECTS}/{p['id']}", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    assert theirs.post(f"{PROSPECTS}/{p['id']}/notes", json={"body": "x"},
                       headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_create_token_offers_the_write_scope(app, client):
    out = app.test_cli_runner().invoke(args=["vani", "create-token", "crm", "--scope", "write"]).output
    token = out.strip().splitlines()[-1]
    assert "scopes write" in out
    r = client.post(PROSPECTS, json={"email": "lena@example.test"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
