"""Notifications that reach the right person: the ``owner`` channel (the meeting's or prospect's
owner), and alerts on silent failure sent to the admins once per incident."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.notifications.helpers import sends, smtp_server
from vani.extensions import db as _db
from vani.models import Meeting, Notification, Prospect, ProviderConnection, WebhookEvent, WebhookSubscription
from vani.models.base import utcnow
from vani.notifications import alerts, moments, sending

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def smtp(app):
    with smtp_server(app) as inbox:
        yield inbox


def raise_moment(kind: str, key: str, meeting: Meeting | None = None, prospect: Prospect | None = None) -> None:
    """Raise a notification outside an event, as a service does."""
    from vani import tenancy

    prospect = prospect or (_db.session.get(Prospect, meeting.prospect_id) if meeting else None)
    moments.write([dict(org_id=tenancy.require(), kind=kind, moment_key=key, status="pending",
                        meeting_id=meeting.id if meeting else None, prospect_id=prospect.id if prospect else None,
                        event_id=None, data={}, attempts=0, created_at=NOW)], NOW)
    _db.session.commit()
    sending.wake()


def notifications(db, kind: str) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.execute(select(Notification).where(Notification.kind == kind)
                                   .order_by(Notification.id)).scalars())


def recipients(smtp) -> list[list[str]]:
    return [to for to, _ in smtp.messages]


def subject(msg) -> str:
    return " ".join(str(msg["Subject"]).split())


# -- the owner channel ---------------------------------------------------------------------------
def test_owner_gets_the_email_member_first_then_owner_email(app, db, run_worker, make_user, smtp):
    app.config["VANI_NOTIFY_ROUTES"] = "meeting.scheduled=owner,webhook;lead.created=owner"
    rep = make_user("staff", email="rep@example.com")
    member_owned = Prospect(email="ana@example.com", name="Ana", owner_id=rep.id, owner_email="old@example.com")
    email_owned = Prospect(email="bo@example.com", name="Bo", owner_email="bo-owner@example.com")
    db.session.add_all([member_owned, email_owned])
    db.session.flush()
    hosted = Meeting(provider="calendly", provider_ref="m1", prospect_id=member_owned.id, title="Demo",
                     owner_email="host@example.com")
    unhosted = Meeting(provider="calendly", provider_ref="m2", prospect_id=member_owned.id, title="Follow-up")
    db.session.add_all([hosted, unhosted])
    db.session.commit()

    raise_moment("meeting.scheduled", "m1", meeting=hosted)      # the meeting's owner wins
    raise_moment("meeting.scheduled", "m2", meeting=unhosted)    # else the prospect's: the member
    raise_moment("lead.created", "l1", prospect=email_owned)     # no member: owner_email
    run_worker()

    assert sorted(recipients(smtp)) == [["bo-owner@example.com"], ["host@example.com"], ["rep@example.com"]]
    by_to = {tuple(to): msg for to, msg in smtp.messages}
    assert subject(by_to[("rep@example.com",)]).startswith("[Vani] Meeting booked: Ana booked Follow-up")
    assert [(r.channel, r.status) for r in sends(db, "owner")] == [("owner", "sent")] * 3
    # One send row per channel, as before: the webhook channel still covers meeting.scheduled.
    assert [r.status for r in sends(db, "webhook")] == ["covered", "covered"]


def test_no_owner_is_skipped_with_the_reason(app, db, run_worker, smtp):
    app.config["VANI_NOTIFY_ROUTES"] = "lead.created=owner"
    p = Prospect(email="cy@example.com")
    db.session.add(p)
    db.session.commit()
    raise_moment("lead.created", "l2", prospect=p)
    run_worker()
    (row,) = sends(db)
    assert (row.channel, row.status, row.detail) == ("owner", "skipped", "the notification has no owner")
    assert smtp.messages == [] and notifications(db, "lead.created")[0].status == "skipped"


# -- alerts: default routing and once per incident ---------------------------------------------
def event(db, provider: str, at, key: str, status: str = "processed") -> WebhookEvent:
    row = WebhookEvent(provider=provider, event_type="invitee.created", dedupe_key=key, verified=True,
                       status=status, body=b"{}", headers={}, payload={}, received_at=at)
    db.session.add(row)
    db.session.commit()
    return row


def test_dead_letters_alert_the_admins_once_per_newest_dead_row(app, db, run_worker, make_user, smtp):
    make_user("admin", email="boss@example.com")
    make_user("staff", email="rep@example.com")
    app.config["VANI_NOTIFY_ROUTES"] = "*=webhook"  # '*' does not name alerts: they still go to the admins
    event(db, "calendly", NOW, "d1", status="dead")
    assert alerts.check(NOW)["dead_letters"] == 1
    assert alerts.check(NOW + timedelta(minutes=5))["dead_letters"] == 0
    run_worker()
    (n,) = notifications(db, "alert.dead_letters")
    assert n.data["lane"] == "events" and n.data["count"] == 1 and n.status == "sent"
    assert recipients(smtp) == [["boss@example.com"]]
    assert subject(smtp.messages[0][1]).startswith("[Vani] Dead letters waiting: 1 item(s) in the events lane")
    # A new dead letter is a new incident.
    event(db, "calendly", NOW, "d2", status="dead")
    assert alerts.check(NOW + timedelta(minutes=10))["dead_letters"] == 1
    assert alerts.check(NOW + timedelta(minutes=15))["dead_letters"] == 0
    assert [n.data["count"] for n in notifications(db, "alert.dead_letters")] == [1, 2]


def test_routed_alert_and_the_webhook_channel(app, db, run_worker, make_user, smtp):
    make_user("admin", email="boss@example.com")
    app.config["VANI_NOTIFY_ROUTES"] = "alert.dead_letters=webhook,admins"
    event(db, "cal_com", NOW, "d3", status="dead")
    alerts.check(NOW)
    run_worker()
    assert {(r.channel, r.status) for r in sends(db)} == {("webhook", "skipped"), ("admins", "sent")}
    assert "not an outbound webhook event" in sends(db, "webhook")[0].detail


def test_no_admins_is_skipped(app, db, run_worker, make_user, smtp):
    make_user("staff", email="rep@example.com")
    event(db, "calendly", NOW, "d4", status="dead")
    alerts.check(NOW)
    run_worker()
    (row,) = sends(db)
    assert (row.channel, row.status, row.detail) == ("admins", "skipped", "the organisation has no admins")


def test_provider_subscription_disabled_once_per_subscription(app, db, run_worker, make_user, smtp):
    make_user("admin", email="boss@example.com")
    conn = ProviderConnection(provider="calendly", access_token="t", subscription_uri="https://api.calendly.com/s/1",
                              subscription_state="active", checked_at=NOW)
    db.session.add(conn)
    db.session.commit()
    conn_id = conn.id
    assert alerts.check(NOW)["provider_subscription_disabled"] == 0
    conn.subscription_state = "disabled"
    db.session.commit()
    assert alerts.check(NOW)["provider_subscription_disabled"] == 1
    conn.checked_at = NOW + timedelta(minutes=10)  # checked again, still disabled: the same incident
    db.session.commit()
    assert alerts.check(NOW + timedelta(minutes=10))["provider_subscription_disabled"] == 0
    run_worker()
    assert recipients(smtp) == [["boss@example.com"]]
    assert "Calendly disabled its webhook subscription" in subject(smtp.messages[0][1])
    # Repaired with a new subscription, which is disabled again later: a new incident.
    conn = db.session.get(ProviderConnection, conn_id)
    conn.subscription_uri = "https://api.calendly.com/s/2"
    db.session.commit()
    assert alerts.check(NOW + timedelta(hours=1))["provider_subscription_disabled"] == 1


def test_provider_quiet_against_its_usual_gap(app, db, make_user):
    make_user("admin", email="boss@example.com")
    last = NOW - timedelta(hours=7)
    for i in range(20):  # one every 10 minutes, the last 7 h ago
        event(db, "calendly", last - timedelta(minutes=10 * i), f"q{i}")
    event(db, "kapso", NOW - timedelta(hours=30), "k1")  # too few events to have a usual gap
    app.config["VANI_ALERT_QUIET_FACTOR"] = 100  # 100 × 10 min: not quiet yet
    assert alerts.check(NOW)["provider_quiet"] == 0
    app.config["VANI_ALERT_QUIET_FACTOR"] = 10   # max(100 min, 6 h) < 7 h
    assert alerts.check(NOW)["provider_quiet"] == 1
    assert alerts.check(NOW + timedelta(minutes=5))["provider_quiet"] == 0
    (n,) = notifications(db, "alert.provider_quiet")
    assert n.data["provider"] == "calendly" and n.data["quiet_hours"] == 7.0 and n.data["usual_minutes"] == 10.0
    # An event arrives, then silence again: a new incident.
    event(db, "calendly", NOW - timedelta(hours=6, minutes=30), "q-new")
    assert alerts.check(NOW)["provider_quiet"] == 1
    assert alerts.check(NOW)["provider_quiet"] == 0
    event(db, "calendly", NOW - timedelta(minutes=5), "q-now")
    assert alerts.check(NOW)["provider_quiet"] == 0


def test_subscription_disabled_once_per_disable(app, db, run_worker, make_user, smtp):
    from vani.outbound import health
    from vani.outbound.subscriptions import update_subscription

    make_user("admin", email="boss@example.com")
    sub = WebhookSubscription(url="https://crm.example.com/hook", events=["*"], secret="whsec_x")
    db.session.add(sub)
    db.session.commit()
    sub_id = sub.id
    gone = SimpleNamespace(success=False, status_code=410)
    health.apply([(sub_id, NOW, gone)])
    assert health.apply([(sub_id, NOW + timedelta(minutes=1), gone)]) == []  # already disabled: nothing new
    db.session.commit()
    sending.wake()  # as the delivery worker does after its commit
    (n,) = notifications(db, "alert.subscription_disabled")
    assert n.data["url"] == "https://crm.example.com/hook" and "410" in n.data["reason"]
    run_worker()
    assert recipients(smtp) == [["boss@example.com"]]
    assert "Vani stopped sending webhooks to https://crm.example.com/hook" in subject(smtp.messages[0][1])
    update_subscription(sub_id, active=True)
    health.apply([(sub_id, NOW + timedelta(hours=1), gone)])
    db.session.commit()
    assert len(notifications(db, "alert.subscription_disabled")) == 2
