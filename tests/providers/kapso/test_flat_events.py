"""Kapso's older flat bodies beyond messages: conversation status changes and contacts, and the
contact's ``display_name``."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.whatsapp_signing import post_kapso
from vani.extensions import db as _db
from vani.models import Conversation, Message, OutboundEvent, Prospect, WebhookEvent

PHONE = "+447700900123"


def flat_message(message_id: str, contact: dict, conv: str = "conv_flat_1") -> dict:
    return {"event_type": "message_received", "conversation_id": conv, "message_id": message_id,
            "payload": {"from": PHONE, "content": "Is Tuesday free?", "message_type": "text", "contact": contact}}


def status_change(status: str, at: str, conv: str = "conv_flat_1") -> dict:
    return {"event_type": "conversation.status_changed", "conversation_id": conv,
            "payload": {"status": status, "previous_status": "active", "phone_number": PHONE, "updated_at": at}}


def contact_event(event: str, **contact) -> dict:
    return {"event_type": event, "payload": {"contact": contact}}


def deliver(client, run_worker, *bodies) -> list[WebhookEvent]:
    ids = []
    for body in bodies:
        r = post_kapso(client, body)
        assert r.status_code == 200 and r.json["status"] == "accepted", r.json
        ids.append(r.json["event_id"])
    run_worker()
    _db.session.expire_all()
    return [_db.session.get(WebhookEvent, i) for i in ids]


def prospects(db) -> list[Prospect]:
    return list(db.session.execute(select(Prospect).order_by(Prospect.id)
                                   .execution_options(populate_existing=True)).scalars())


def updates(db) -> int:
    return db.session.execute(select(func.count()).select_from(OutboundEvent)
                              .where(OutboundEvent.type == "prospect.updated")).scalar_one()


def test_a_flat_message_keeps_the_contacts_display_name(client, run_worker, db):
    (event,) = deliver(client, run_worker, flat_message("wamid.f1", {"display_name": "Priya Shah", "phone": PHONE}))
    assert event.status == "processed", event.outcome
    msg = db.session.execute(select(Message)).scalar_one()
    assert msg.conversation.contact_name == "Priya Shah"
    (prospect,) = prospects(db)
    assert (prospect.phone, prospect.name) == (PHONE, "Priya Shah")


def test_a_flat_status_change_is_recorded_and_an_older_one_is_not(client, run_worker, db):
    deliver(client, run_worker, flat_message("wamid.f2", {"name": "Priya Shah"}))
    ended, stale = deliver(client, run_worker, status_change("ended", "2030-04-02T10:00:00Z"),
                           status_change("active", "2030-04-01T10:00:00Z"))
    assert (ended.status, ended.outcome) == ("processed", "conversation ended")
    assert stale.status == "processed" and "not newer" in stale.outcome
    conv = db.session.execute(select(Conversation).execution_options(populate_existing=True)).scalar_one()
    assert conv.status == "ended" and conv.prospect_id == prospects(db)[0].id
    (reopened,) = deliver(client, run_worker, status_change("open", "2030-04-03T10:00:00Z"))
    assert reopened.outcome == "conversation active"


def test_a_status_change_for_a_new_conversation_creates_it(client, run_worker, db):
    (event,) = deliver(client, run_worker, status_change("closed", "2030-04-02T10:00:00Z", conv="conv_new"))
    assert event.outcome == "conversation ended"
    conv = db.session.execute(select(Conversation)).scalar_one()
    assert (conv.provider_ref, conv.status, conv.phone) == ("conv_new", "ended", PHONE)


def test_an_unknown_status_is_ignored_with_its_reason(client, run_worker, db):
    (event,) = deliver(client, run_worker, status_change("snoozed", "2030-04-02T10:00:00Z"))
    assert (event.status, event.outcome) == ("ignored", "conversation status 'snoozed' is not one Vani tracks")


def test_contact_created_creates_the_prospect_and_updated_renames_it(client, run_worker, db):
    (created,) = deliver(client, run_worker, contact_event("contact.created", display_name="Priya",
                                                           phone_number="447700900123"))
    assert created.outcome == "prospect created from the contact"
    (prospect,) = prospects(db)
    assert (prospect.phone, prospect.name, prospect.source) == (PHONE, "Priya", "kapso")
    (renamed,) = deliver(client, run_worker, contact_event("contact.updated", display_name="Priya Shah",
                                                           wa_id="447700900123"))
    assert renamed.outcome == "prospect name updated from the contact"
    assert prospects(db)[0].name == "Priya Shah" and updates(db) == 1
    (same,) = deliver(client, run_worker, {"event_type": "contact.updated",
                                           "payload": {"display_name": "Priya Shah", "phone": PHONE, "v": 2}})
    assert same.status == "processed" and updates(db) == 1


def test_a_contact_update_never_renames_a_prospect_named_elsewhere(client, run_worker, db):
    db.session.add(Prospect(email="priya@example.com", name="Priya Shah", phone=PHONE, source="calendly"))
    db.session.commit()
    (event,) = deliver(client, run_worker, contact_event("contact.updated", display_name="P 🌸", phone=PHONE))
    assert event.status == "processed"
    (prospect,) = prospects(db)
    assert prospect.name == "Priya Shah" and updates(db) == 0


def test_a_new_number_reaches_the_prospect_through_its_conversation(client, run_worker, db):
    deliver(client, run_worker, flat_message("wamid.f3", {"name": "Priya Shah"}))
    body = {"event_type": "contact.updated", "conversation_id": "conv_flat_1",
            "payload": {"contact": {"display_name": "Priya Shah", "phone_number": "+447700900999"}}}
    (event,) = deliver(client, run_worker, body)
    assert event.outcome == "prospect phone updated from the contact"
    (prospect,) = prospects(db)
    assert prospect.phone == "+447700900999"


def test_a_contact_without_a_number_is_ignored(client, run_worker, db):
    (event,) = deliver(client, run_worker, contact_event("contact.created", display_name="Nobody"))
    assert (event.status, event.outcome) == ("ignored", "the contact has no phone number")
    assert prospects(db) == []


def test_the_guides_signed_curl_bodies_are_handled(app, client, run_worker, db):
    """Every ``BODY='…'`` of the Kapso guide, with its shell's current time filled in and signed
    as its curl lines sign it, is accepted under the production replay window and processed."""
    import time
    from datetime import datetime, timezone

    from tests.paths import ROOT

    app.config["VANI_KAPSO_MAX_AGE_SECONDS"] = 7 * 86400
    now = time.time()
    shell = {"'$(date +%s)'": str(int(now)),
             "'$(date -u +%Y-%m-%dT%H:%M:%SZ)'": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    guide = (ROOT / "docs" / "providers" / "kapso.md").read_text()
    bodies = []
    for line in guide.splitlines():
        if line.startswith("BODY='"):
            text = line[len("BODY='"):-1]
            for command, value in shell.items():
                text = text.replace(command, value)
            assert "$(" not in text, text
            bodies.append(text.encode())
    assert len(bodies) == 3
    events = deliver(client, run_worker, *bodies)
    assert [(e.event_type, e.status) for e in events] == [
        ("whatsapp.message.received", "processed"), ("conversation.status_changed", "processed"),
        ("contact.updated", "processed")]
    conv = db.session.execute(select(Conversation).execution_options(populate_existing=True)).scalar_one()
    assert conv.status == "ended"
    (prospect,) = prospects(db)
    assert (prospect.phone, prospect.name) == ("+15551234567", "Priya Shah")
