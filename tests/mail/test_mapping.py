"""Mail as events: stored once per message, mapped to emails linked to prospects by address,
shown on the timeline by thread, told to subscribers; the mailbox page and its actions."""
from __future__ import annotations

from sqlalchemy import func, select, text

from tests.web.seed import seed_mailbox
from tests.factories import mail
from tests.work.helpers import process_events
from vani.mail.store import store
from vani.models import Email, Mailbox, OutboundEvent, Prospect, WebhookEvent


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_mail_becomes_events_emails_and_outbound_events(app, db):
    mailbox = seed_mailbox()
    prospect = Prospect(email="ana@client.test", name="Ana Lima")
    db.session.add(prospect)
    db.session.commit()
    assert store(mailbox, [mail(1), mail(2), mail(1)]) == 2  # the same message twice in one batch
    reply = mail(3, "outbound", sender="sales@example.com", to=("ana@client.test",))
    assert store(mailbox, [reply]) == 1
    db.session.commit()
    process_events()
    events = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars().all()
    assert [(e.provider, e.event_type, e.status) for e in events] == [
        ("imap", "email.received", "processed"), ("imap", "email.received", "processed"), ("imap", "email.sent", "processed")]
    assert all(e.prospect_id == prospect.id for e in events)
    emails = db.session.execute(select(Email).order_by(Email.id)).scalars().all()
    assert [(e.direction, e.prospect_id, e.subject) for e in emails] == [
        ("inbound", prospect.id, "Pricing for a team of 12")] * 2 + [("outbound", prospect.id, "Pricing for a team of 12")]
    types = sorted(db.session.execute(select(OutboundEvent.type)).scalars())
    assert types == ["email.received", "email.received", "email.sent"]
    sent = db.session.execute(select(OutboundEvent).where(OutboundEvent.type == "email.sent")).scalar_one()
    assert sent.data["email"]["to"] == ["ana@client.test"] and sent.data["prospect"]["id"] == prospect.id
    # Stored again (a resync) or replayed: nothing new.
    assert store(mailbox, [mail(1), mail(2), reply]) == 0
    from vani.processing.events import reprocess

    assert reprocess(events[0].id) == "processed"
    assert count(db, Email) == 3 and count(db, OutboundEvent) == 3


def test_unknown_senders_create_no_prospect_unless_asked(app, db):
    mailbox = seed_mailbox()
    store(mailbox, [mail(1, sender="news@letters.test")])
    db.session.commit()
    process_events()
    assert count(db, Prospect) == 0 and db.session.execute(select(Email.prospect_id)).scalar_one() is None
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert event.outcome == "stored; no prospect has these addresses"
    app.config["VANI_EMAIL_CREATES_PROSPECTS"] = True
    store(mailbox, [mail(2, sender="lead@newco.test")])
    db.session.commit()
    process_events()
    (prospect,) = db.session.execute(select(Prospect)).scalars().all()
    assert (prospect.email, prospect.name) == ("lead@newco.test", "Ana Lima")


def test_the_timeline_groups_mail_by_thread(app, db, login):
    mailbox = seed_mailbox()
    prospect = Prospect(email="ana@client.test", name="Ana Lima")
    db.session.add(prospect)
    db.session.commit()
    store(mailbox, [mail(1), mail(2), mail(3, thread="<other@client.test>", subject="Invoice")])
    db.session.commit()
    process_events()
    page = login("viewer").get(f"/dashboard/prospects/{prospect.id}").get_data(as_text=True)
    assert page.count('class="thread"') == 2
    assert "Pricing for a team of 12</strong>" in page and "2 messages" in page and "Invoice</strong>" in page


def test_the_mailbox_of_another_org_is_not_found(app, db):
    mailbox_id = seed_mailbox().id
    from vani import orgs, tenancy

    other_id = orgs.create("Other team", slug="other").id
    db.session.expunge_all()
    with tenancy.acting_for(other_id):
        assert db.session.execute(select(Mailbox)).scalars().all() == []
    assert [m.id for m in db.session.execute(select(Mailbox)).scalars()] == [mailbox_id]


def test_mailboxes_page(app, db, login):
    admin = login("admin")
    r = admin.post("/dashboard/mailboxes/imap", data={
        "csrf_token": admin.csrf, "host": "imap.example.com", "port": "993", "user": "sales@example.com",
        "password": "app-password-1", "folders": "INBOX, Sent Items", "ssl": "on"})
    assert r.status_code == 303
    mailbox = db.session.execute(select(Mailbox)).scalar_one()
    assert (mailbox.address, mailbox.folders, mailbox.status, mailbox.imap_password) == (
        "sales@example.com", ["INBOX", "Sent Items"], "pending", "app-password-1")
    stored = db.session.execute(text("SELECT imap_password FROM mailboxes")).scalar_one()
    assert "app-password-1" not in stored  # encrypted at rest
    bad = admin.post("/dashboard/mailboxes/imap", data={"csrf_token": admin.csrf, "host": "", "user": "x"})
    assert bad.status_code == 400 and "host" in bad.get_data(as_text=True)
    page = login("viewer").get("/dashboard/mailboxes").get_data(as_text=True)
    assert "sales@example.com" in page and "Add an IMAP mailbox" not in page and "app-password-1" not in page
    mailbox.status = "failed"
    mailbox.last_error = "connection refused"
    db.session.commit()
    staff = login("staff")
    assert staff.post(f"/dashboard/mailboxes/{mailbox.id}/sync", data={"csrf_token": staff.csrf}).status_code == 303
    db.session.refresh(mailbox)
    assert mailbox.status == "pending"
    assert admin.post(f"/dashboard/mailboxes/{mailbox.id}/remove", data={"csrf_token": admin.csrf}).status_code == 303
    assert count(db, Mailbox) == 0
