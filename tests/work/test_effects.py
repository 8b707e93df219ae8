"""The unit of work: a change's wake-ups and live updates happen once, after its commit, and never
for a change that was rolled back (whole, or only its savepoint)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import select

from vani import tenancy
from vani.dashboard import live
from vani.extensions import db
from vani.models import Prospect
from vani.outbound.backfill import BACKFILLS
from vani.outbound.delivery_lane import DELIVERIES
from vani.work import effects, wake

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def listener(app, redis_client):
    """The organisation's live channel, subscribed; ``heard()`` is what was published on it."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.channel(tenancy.require()))
    pubsub.get_message(timeout=0.2)  # the confirmation

    def heard() -> list[str]:
        messages = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            messages.append(message["data"].decode())
        return messages

    yield heard
    pubsub.close()


def queued(lane) -> list[str]:
    return wake.get_queue(wake.queue_name(lane)).job_ids


def add_prospect(email: str) -> Prospect:
    prospect = Prospect(email=email, name="Ana Lima")
    db.session.add(prospect)
    db.session.flush()
    return prospect


def test_a_rolled_back_change_wakes_nothing_and_publishes_nothing(app, listener):
    prospect = add_prospect("ana@example.com")
    effects.wake(DELIVERIES)
    effects.publish(tenancy.require(), f"prospect:{prospect.id}")
    db.session.rollback()
    db.session.commit()  # a later commit of nothing carries out nothing either

    assert queued(DELIVERIES) == [] and wake.flag_ttl_ms(DELIVERIES) is None
    assert listener() == []
    assert db.session.execute(select(Prospect)).scalars().all() == []


def test_a_rolled_back_savepoint_takes_its_effects_but_not_the_transactions(app, listener):
    org_id = tenancy.require()
    effects.publish(org_id, "outer")
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            add_prospect("failed@example.com")
            effects.wake(DELIVERIES)
            effects.publish(org_id, "failed")
            raise RuntimeError("this event's mapping failed")
    with db.session.begin_nested():
        add_prospect("kept@example.com")
        effects.wake(BACKFILLS)
        effects.publish(org_id, "kept")
    db.session.commit()

    assert listener() == ["outer", "kept"]
    assert queued(DELIVERIES) == [] and len(queued(BACKFILLS)) == 1


def test_a_committed_change_has_its_effects_once_after_the_commit(app, listener, monkeypatch):
    org_id = tenancy.require()
    seen = []
    carry_out = effects.carry_out

    def watching(recorded):
        with db.engine.connect() as other:  # not the session: only committed rows are there
            seen.append(other.execute(select(Prospect.email)).scalars().all())
        return carry_out(recorded)

    monkeypatch.setattr(effects, "carry_out", watching)
    prospect = add_prospect("ana@example.com")
    effects.wake(DELIVERIES)
    effects.publish(org_id, f"prospect:{prospect.id}")
    assert seen == []  # nothing before the commit
    db.session.commit()
    db.session.commit()  # nothing is carried out twice

    assert seen == [["ana@example.com"]]
    assert len(queued(DELIVERIES)) == 1
    assert listener() == [f"prospect:{prospect.id}"]


def test_two_identical_wakes_in_one_transaction_make_one_kick(app, listener, monkeypatch):
    org_id = tenancy.require()
    kicks = []
    kick_all = wake.kick_all
    monkeypatch.setattr(wake, "kick_all", lambda lanes, also=None: kicks.append(list(lanes)) or kick_all(lanes, also))
    add_prospect("ana@example.com")
    effects.wake(DELIVERIES)
    effects.wake(DELIVERIES)
    effects.publish(org_id, "conversation:1")
    effects.publish(org_id, "conversation:1")
    db.session.commit()

    assert kicks == [[DELIVERIES]]
    assert len(queued(DELIVERIES)) == 1
    assert listener() == ["conversation:1"]


def test_a_wake_names_a_lane_object_never_a_string(app):
    with pytest.raises(TypeError):
        effects.wake("deliveries")
    assert effects.pending() == []


def test_ingest_wakes_the_events_lane_without_importing_the_processing_module():
    tree = ast.parse((ROOT / "vani" / "ingest" / "__init__.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and name.startswith("vani.processing") for name in imported)
