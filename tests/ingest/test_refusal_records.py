"""Bounded, fair bookkeeping of refused calls: the cap is per organisation (a flood at one
organisation's URLs, or the default ones, never deletes another's records), a flood is sampled
(the rest only counted, and the page says how many), and the webhook-key cache is bounded."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from vani import orgs, tenancy
from vani.extensions import db
from vani.ingest import refusals
from vani.models import RejectedCall
from vani.orgs.secrets import store_secret

START = 1_800_000_000.0  # the start of a minute


@pytest.fixture
def clock(monkeypatch):
    """The time the sampling sees, moved by hand."""
    now = {"t": START}
    monkeypatch.setattr(refusals, "clock", lambda: now["t"])
    return now


@pytest.fixture
def signed(app):
    app.config.update(CALENDLY_WEBHOOK_SIGNING_KEY="default-signing-key", CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS=None,
                      VANI_REJECTED_CALLS_PER_MINUTE=60)


def refuse(client, url: str, n: int) -> None:
    for _ in range(n):
        r = client.post(url, data=b'{"event": "invitee.created"}', content_type="application/json")
        assert r.status_code == 401 and r.json["error"] == "missing_signature"


def rows(org_id: int) -> list[int]:
    db.session.expire_all()
    with tenancy.everywhere():
        return sorted(db.session.execute(select(RejectedCall.id).where(RejectedCall.org_id == org_id)).scalars())


def test_a_flood_on_the_default_urls_leaves_another_organisations_records(app, client, signed, clock):
    app.config["VANI_REJECTED_CALLS_MAX"] = 20
    beta = orgs.create("Beta", slug="beta")
    with tenancy.acting_for(beta.id):
        store_secret("calendly", "beta-signing-key")
    refuse(client, f"/api/webhooks/calendly/{beta.key}", 5)
    kept = rows(beta.id)
    assert len(kept) == 5
    for second in range(5):  # a flood over several seconds and minutes
        clock["t"] = START + second * 45
        refuse(client, "/api/webhooks/calendly", 80)
    assert rows(beta.id) == kept
    default = rows(orgs.default_id())
    assert 0 < len(default) <= 20
    assert default[-1] > kept[-1]  # the newest are kept


def test_a_flood_writes_a_bounded_number_of_rows(app, client, signed, clock):
    refuse(client, "/api/webhooks/calendly", 300)
    assert len(rows(orgs.default_id())) == 61  # the first 60 of the minute, then one a second
    clock["t"] += 1
    refuse(client, "/api/webhooks/calendly", 100)
    assert len(rows(orgs.default_id())) == 62
    clock["t"] = START + 60  # a new minute records the first 60 again
    refuse(client, "/api/webhooks/calendly", 70)
    assert len(rows(orgs.default_id())) == 62 + 61


def test_the_page_says_how_many_refused_calls_were_not_recorded(app, client, signed, clock, login):
    beta = orgs.create("Beta", slug="beta")
    refuse(client, "/api/webhooks/calendly", 300)
    page = login("viewer").get("/dashboard/rejected").get_data(as_text=True)
    assert "239 more refused calls were not recorded" in page
    with tenancy.acting_for(beta.id):
        other = login("viewer", org_id=beta.id).get("/dashboard/rejected").get_data(as_text=True)
    assert "not recorded" not in other


def test_unknown_webhook_keys_are_cached_within_a_bound(app):
    for n in range(100_000):
        orgs._cached("key", f"made-up-key-{n}", lambda: None)
    assert len(orgs._cache) <= orgs.CACHE_SIZE
    beta = orgs.create("Beta", slug="beta")
    assert orgs.id_for_key(beta.key) == beta.id and orgs.id_for_key("still-made-up") is None
