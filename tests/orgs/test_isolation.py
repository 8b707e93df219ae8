"""Organisations are isolated, checked over every dashboard and API route.

Two organisations hold data. Signed into the first (as its admin, or with its admin token),
every route is called: with each id of the second organisation's rows (the answer must be 404,
so not even their existence shows), and without ids (lists, forms, bulk actions). Nothing the
first sees may carry the second's marker or key, and no row of the second may change.
``test_the_checks_catch_a_broken_scope`` turns the scoping off and shows the checks fail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from tests.clients import fresh_client
from tests.web.seed import seed_all, seed_mailbox, seed_reply
from vani import orgs, tenancy
from vani.accounts.invitations import invite
from vani.accounts.tokens import create_token
from vani.extensions import db
from vani.models import ApiToken, Membership, Message, RejectedCall, User
from vani.models.base import utcnow
from vani.outbound.backfill import start as start_backfill

MARK = "orgbeta"
# An invitation's link names no row by id: its token is the check (see accounts/test_invitations.py).
SKIPPED = {"dash.login", "dash.logout", "dash.stream", "dash.create_org", "dash.new_org", "dash.join", "static"}
# Every id a route may take, and the row of the second organisation it names.
ID_ARGS = {"event_id": "event", "delivery_id": "delivery", "sub_id": "subscription",
           "notification_id": "notification", "prospect_id": "prospect", "meeting_id": "meeting",
           "conversation_id": "conversation", "token_id": "token", "user_id": "user", "message_id": "reply",
           "rule_id": "rule", "mailbox_id": "mailbox", "backfill_id": "backfill", "invitation_id": "invitation"}
BODIES = {"POST": {"url": "https://x.example.com/h", "events": "*", "role": "viewer", "active": "0",
                   "password": "long-enough-1", "confirm": "1", "name": "n"},
          "PATCH": {"description": "changed", "active": False}}


@dataclass
class World:
    a: int
    b: int
    a_ids: dict
    b_ids: dict
    b_key: str
    b_slug: str


def _ids(data: dict, token_id: int, user_id: int) -> dict:
    return {"event": data["events"]["failed"].id, "delivery": data["failed"].id,
            "subscription": data["subscription"].id, "notification": data["failed_notification"].id,
            "prospect": data["prospect"].id, "meeting": data["meeting"].id,
            "conversation": data["conversation"].id, "token": token_id, "user": user_id,
            "reply": data["reply"].id, "rule": data["rule"].id, "mailbox": data["mailbox"].id,
            "backfill": data["backfill"].id, "invitation": data["invitation"].id}


def _mark(data: dict) -> None:
    """Put the marker into what the second organisation's lists show."""
    p, m, conv = data["prospect"], data["meeting"], data["conversation"]
    p.email, p.name, m.title = f"rita@{MARK}.test", f"Rita {MARK}", f"{MARK} call"
    for ev in data["events"].values():
        ev.subject_email, ev.event_type = f"rita@{MARK}.test", f"{MARK}.{ev.event_type}"
    data["subscription"].url, data["subscription"].description = f"https://{MARK}.example.com/h", f"{MARK} CRM"
    for d in (data["delivered"], data["failed"]):
        d.event_type = f"{MARK}.scheduled"
    conv.contact_name, conv.phone = f"{MARK} contact", "+15550109999"
    for msg in db.session.execute(select(Message)).scalars():
        msg.text = f"{MARK} hello"
    data["rule"].name, data["rule"].reply_text = f"{MARK} rule", f"{MARK} reply"
    for call in db.session.execute(select(RejectedCall)).scalars():
        call.detail = f"{MARK} refused"
    db.session.commit()


@pytest.fixture
def world(app, make_user) -> World:
    a = tenancy.require()
    a_data = seed_all()
    a_data["reply"], a_data["rule"] = seed_reply(a_data["conversation"])
    a_data["mailbox"] = seed_mailbox()
    a_data["backfill"] = start_backfill(a_data["subscription"].id, utcnow() - timedelta(days=1))
    ann = make_user("viewer", email="ann@a.test")
    a_data["invitation"] = invite("newcomer@a.test", "viewer", ann).invitation
    a_ids = _ids(a_data, create_token("a-target", ["read"])[0].id, ann.id)
    beta = orgs.create("Beta Sales", slug="beta")
    with tenancy.acting_for(beta.id):
        b_data = seed_all()
        b_data["reply"], b_data["rule"] = seed_reply(b_data["conversation"])
        b_data["mailbox"] = seed_mailbox(f"sales@{MARK}.test")
        b_data["backfill"] = start_backfill(b_data["subscription"].id, utcnow() - timedelta(days=1))
        _mark(b_data)
        boss = make_user("admin", email=f"boss@{MARK}.test", org_id=beta.id)
        b_data["invitation"] = invite(f"newcomer@{MARK}.test", "staff", boss).invitation
        b_ids = _ids(b_data, create_token(f"{MARK}-token", ["admin"])[0].id, boss.id)
    world = World(a, beta.id, a_ids, b_ids, beta.key, beta.slug)
    # Requests start with an empty session, as each does in production (``session.get`` answers
    # from the identity map, so a row the fixture left there would skip the query and its scope).
    db.session.expunge_all()
    return world


def snapshot(org_id: int) -> dict[str, list]:
    """Every row of the organisation (and its members' accounts), read past the scoping."""
    out = {}
    for table in db.metadata.sorted_tables:
        if "org_id" in table.c:
            out[table.name] = [tuple(r) for r in db.session.execute(
                select(table).where(table.c.org_id == org_id).order_by(*table.primary_key.columns))]
    members = select(Membership.user_id).where(Membership.org_id == org_id)
    out["users"] = [tuple(r) for r in db.session.execute(select(User.__table__).where(User.id.in_(members)))]
    db.session.rollback()
    return out


def routes(app) -> list[tuple[str, str, list[str]]]:
    """(endpoint, rule, methods) of every dashboard and API route."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("dash", "api") and rule.endpoint not in SKIPPED:
            found.append((rule.endpoint, rule.rule, sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})))
    return sorted(found, key=lambda r: r[1])


def build(rule: str, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        assert name in ID_ARGS, f"{rule}: add {name} to ID_ARGS"
        return str(ids[ID_ARGS[name]])

    return re.sub(r"<int:(\w+)>", fill, rule)


class Caller:
    """Signed into the first organisation: a dashboard admin, and an admin API token."""

    def __init__(self, app, login, token: str):
        self.dash = login("admin")
        self.token = token

    def call(self, method: str, url: str):
        body = dict(BODIES.get(method, {}))
        if method == "POST" and url.startswith("/api/") and re.search(r"/\d+(/|$)", url):
            body = {}  # an action on one row: sent as is (a body could be refused before the lookup)
        if url.startswith("/dashboard/"):
            data = {**body, "csrf_token": self.dash.csrf} if method != "GET" else None
            return self.dash.open(url, method=method, data=data)
        client = fresh_client(self.dash.application)
        headers = {"Authorization": f"Bearer {self.token}"}
        return client.open(url, method=method, headers=headers, json=body if method != "GET" else None)


def leaks(app, world: World, caller: Caller) -> list[str]:
    """Everything that crossed from the second organisation to the first (empty: isolated)."""
    found = []
    for endpoint, rule, methods in routes(app):
        for method in methods:
            if "<" in rule:
                r = caller.call(method, build(rule, world.b_ids))
                if r.status_code != 404:
                    found.append(f"{method} {rule} with the other organisation's id: {r.status_code}")
                elif rule.startswith("/api/") and not (r.is_json and r.json.get("error")):
                    found.append(f"{method} {rule}: 404 without a JSON reason")
            elif method == "GET":
                r = caller.call(method, rule)
                body = r.get_data(as_text=True)
                if MARK in body.lower() or world.b_key in body:
                    found.append(f"GET {rule} shows the other organisation's data")
    return found


@pytest.fixture
def caller(app, login, world, api_token) -> Caller:
    return Caller(app, login, api_token)


def test_no_route_crosses_organisations(app, world, caller):
    before = snapshot(world.b)
    assert sum(len(rows) for rows in before.values()) > 20  # the second organisation does hold data
    assert leaks(app, world, caller) == []
    # Writes, retries, replays and bulk actions of the first left every row of the second alone.
    for endpoint, rule, methods in routes(app):
        if "<" not in rule:
            for method in set(methods) - {"GET"}:
                caller.call(method, rule)
    assert snapshot(world.b) == before


def test_the_routes_work_for_their_own_organisation(app, world, caller):
    """The control: the same GETs with the first organisation's own ids answer 200, so the
    404s above come from the scoping, not from broken URLs."""
    for endpoint, rule, methods in routes(app):
        if "<" in rule and "GET" in methods:
            url = build(rule, world.a_ids)
            r = caller.call("GET", url)
            assert r.status_code == 200, (rule, r.status_code)
            body = r.get_data(as_text=True)
            assert body and MARK not in body.lower(), rule  # the first organisation's own row, shown
            if rule.startswith("/api/"):
                assert r.is_json and "error" not in r.json, (rule, r.json)
                # the row asked for (its id), or the rows under it (a list that is not empty)
                assert r.json.get("id") == int(re.findall(r"\d+", url)[-1]) or r.json.get("data"), (rule, r.json)
            else:
                # not the error page (its title is the bare status), whatever ids a page shows
                assert r.mimetype == "text/html" and "<title>404 · Vani</title>" not in body, rule


def test_the_checks_catch_a_broken_scope(app, world, caller):
    """Break the scope on purpose (the ORM rule and the check on rows in memory off): the same
    checks report leaks."""
    from vani.extensions import Session as AppSession

    event.remove(Session, "do_orm_execute", tenancy._scope)
    AppSession.get_checks.remove(tenancy._visible)
    try:
        found = leaks(app, world, caller)
    finally:
        event.listen(Session, "do_orm_execute", tenancy._scope)
        AppSession.get_checks.append(tenancy._visible)
    assert any("with the other organisation's id: 200" in f for f in found), found
    assert any("shows the other organisation's data" in f for f in found), found


def test_a_member_cannot_switch_into_an_organisation_they_do_not_belong_to(world, caller):
    r = caller.dash.post("/dashboard/orgs/switch", data={"org": world.b_slug, "csrf_token": caller.dash.csrf})
    assert r.status_code == 404
    assert MARK not in caller.dash.get("/dashboard/prospects").get_data(as_text=True)


def test_a_member_of_both_sees_each_in_turn(app, login, world):
    client = login("staff")
    db.session.add(Membership(user_id=client.user.id, org_id=world.b, role="viewer"))
    db.session.commit()
    assert MARK not in client.get("/dashboard/prospects").get_data(as_text=True)
    r = client.post("/dashboard/orgs/switch", data={"org": world.b_slug, "csrf_token": client.csrf})
    assert r.status_code == 303
    page = client.get("/dashboard/prospects").get_data(as_text=True)
    assert f"Rita {MARK}" in page and "Ana Lima" not in page
    # Roles are per organisation: a viewer in the second, so no replay there.
    r = client.post(f"/dashboard/events/{world.b_ids['event']}/replay", data={"csrf_token": client.csrf})
    assert r.status_code == 403 and "you are signed in as viewer" in r.get_data(as_text=True)
    refused = client.get(f"/dashboard/events/{world.a_ids['event']}")
    assert refused.status_code == 404
    assert "There is no event " in refused.get_data(as_text=True)


def test_a_token_sees_only_its_organisation(app, world):
    with tenancy.acting_for(world.b):
        _, b_token = create_token("beta-reader", ["read"])
    client = fresh_client(app)  # its own session, as in production (not the one that made the rows)
    r = client.get("/api/v1/prospects", headers={"Authorization": f"Bearer {b_token}"})
    assert [p["email"] for p in r.json["data"]] == [f"rita@{MARK}.test"]
    r = client.get(f"/api/v1/prospects/{world.a_ids['prospect']}", headers={"Authorization": f"Bearer {b_token}"})
    assert r.status_code == 404 and r.json["error"] == "not_found"
    assert db.session.execute(select(ApiToken.org_id).where(ApiToken.name == "beta-reader")
                              .execution_options(unscoped=True)).scalar_one() == world.b


def test_with_no_organisation_in_force_nothing_is_found(world):
    """A query that forgets its organisation finds nothing rather than everyone's rows."""
    with tenancy.acting_for(None):
        assert db.session.execute(select(User)).first() is not None  # users are not an organisation's
        assert db.session.execute(text("SELECT count(*) FROM prospects")).scalar_one() == 2  # raw SQL: not scoped
        from vani.models import Prospect

        assert db.session.execute(select(Prospect)).all() == []


def test_a_row_held_in_memory_is_not_handed_to_another_organisation(app, client):
    """``session.get`` answers from memory without a query: a row another organisation's work
    loaded in the same session is still not found while this organisation is in force."""
    from vani import orgs, tenancy
    from vani.accounts.tokens import create_token
    from vani.extensions import db
    from vani.models import Prospect

    mine = tenancy.current()
    theirs = orgs.create("Theirs Ltd").id
    with tenancy.acting_for(theirs):
        prospect = Prospect(email="theirs@example.com", name="Theirs")
        db.session.add(prospect)
        db.session.commit()
        their_id = prospect.id
    with tenancy.everywhere():
        assert db.session.get(Prospect, their_id) is not None  # in memory now
    assert db.session.get(Prospect, their_id) is None
    assert tenancy.current() == mine
    token = create_token("reader", ["read"])[1]
    r = client.get(f"/api/v1/prospects/{their_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and "theirs@example.com" not in r.get_data(as_text=True)
    with tenancy.acting_for(theirs):
        assert db.session.get(Prospect, their_id).email == "theirs@example.com"
