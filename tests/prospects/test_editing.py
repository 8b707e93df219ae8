"""Changes made to prospects by hand (``vani.prospects.editing``): the stage's rules, what a later
booking keeps, events that match the published payloads, and subscribers told on commit."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.bookings import calendly, deliver, prospect
from tests.outbound.helpers import subscribe
from tests.signing import post_calendly
from vani.api.openapi.events import ENVELOPES
from vani.errors import Conflict, InvalidField
from vani.models import EventType, OutboundEvent, WebhookDelivery
from vani.prospects import editing

ANA = editing.Actor("ana@example.test", "dashboard")


def events(db) -> list[OutboundEvent]:
    db.session.expire_all()
    return list(db.session.execute(select(OutboundEvent).order_by(OutboundEvent.id)).scalars())


def test_every_change_matches_its_published_payload_and_reaches_subscribers(app, db, httpserver):
    subscribe(httpserver.url_for("/hook"), ["prospect.*", "note.created"])
    p = editing.create({"email": "lena@example.test", "name": "Lena"}, ANA)
    editing.update(p, {"timezone": "Europe/Berlin"}, ANA)
    editing.add_note(p, "Called, no answer", ANA)
    editing.move_stage(p, "paid", None, ANA)
    editing.move_stage(p, "booked", "Refunded", ANA)
    rows = events(db)
    assert [e.type for e in rows] == ["prospect.created", "prospect.updated", "note.created",
                                      "prospect.updated", "prospect.updated"]
    for row in rows:
        ENVELOPES[EventType(row.type)].model_validate(row.to_dict())
    assert db.session.execute(select(WebhookDelivery)).scalars().all().__len__() == len(rows)


def test_the_stage_moves_forward_freely_and_back_only_with_a_reason(app, db):
    p = editing.create({"phone": "+15550100031"}, ANA)
    assert editing.move_stage(p, "met", None, ANA) is True
    assert editing.move_stage(p, "no_show", None, ANA) is True  # sideways: the same rank
    assert editing.move_stage(p, "no_show", None, ANA) is False  # already there: nothing written
    with pytest.raises(Conflict, match="needs a reason"):
        editing.move_stage(p, "booked", "   ", ANA)
    with pytest.raises(InvalidField):
        editing.move_stage(p, "closed", "why not", ANA)
    assert p.stage == "no_show"
    assert [e.data["stage"] for e in events(db) if e.type == "prospect.updated"] == ["met", "no_show"]


def test_a_later_booking_keeps_the_owner_and_moves_the_stage_on(app, db, client, run_worker, make_user):
    hana = make_user("staff", email="hana@example.test")
    p = editing.create({"email": "lena@example.test", "owner_id": hana.id}, ANA)
    assert (p.owner_email, p.owner_set_by_hand) == ("hana@example.test", True)
    pid, hana_id = p.id, hana.id
    deliver(post_calendly, client, run_worker, calendly("invitee.created"))  # hosted by someone else
    found = prospect("lena@example.test")
    assert found.id == pid and found.owner_id == hana_id and found.stage == "booked"


def test_an_email_another_prospect_has_is_refused(app, db):
    editing.create({"email": "lena@example.test"}, ANA)
    sam = editing.create({"email": "sam@example.test"}, ANA)
    with pytest.raises(Conflict, match="already has the email"):
        editing.update(sam, {"email": "Lena@Example.test"}, ANA)
    with pytest.raises(InvalidField, match="email or a phone"):
        editing.update(sam, {"email": None}, ANA)
    db.session.rollback()
    assert prospect("sam@example.test") is not None


def test_a_stage_moved_by_hand_counts_in_the_funnel_and_shows_on_the_timeline(app, db):
    from vani.models import ProspectStageChange, RollupMetric
    from vani.models.base import utcnow
    from vani.prospects import history
    from vani.work import rollups

    p = editing.create({"email": "mia@example.test"}, ANA)
    editing.move_stage(p, "met", None, ANA)
    editing.move_stage(p, "booked", "Rescheduled by phone", ANA)
    gauge = rollups.Snapshot(utcnow()).gauge(RollupMetric.PROSPECT_STAGE)
    assert {str(k): v for k, v in gauge.items() if v} == {"booked": 1}
    moves = db.session.execute(select(ProspectStageChange.from_stage, ProspectStageChange.to_stage)
                               .order_by(ProspectStageChange.id)).all()
    assert [(str(a), str(b)) for a, b in moves] == [("lead", "met"), ("met", "booked")]
    kinds = [str(e.kind) for e in history.timeline(p.id, None, 50)[0]]
    assert kinds.count("stage_change") == 2 and kinds.count("note") == 2
