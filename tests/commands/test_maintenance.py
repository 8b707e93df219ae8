"""Retention cleanup boundaries, the cleanup command, and the cron jobs run by a worker."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from vani import retention
from vani.jobs import maintenance
from vani.models import (
    DeliveryAttempt,
    Meeting,
    Notification,
    OutboundEvent,
    Prospect,
    ProspectNote,
    RejectedCall,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from vani.models.base import utcnow

NOW = utcnow().replace(microsecond=0)
DAY = timedelta(days=1)


def count(db, model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def event(db, age: timedelta, status: str = "processed", key: str | None = None) -> WebhookEvent:
    row = WebhookEvent(provider="calendly", event_type="invitee.created", dedupe_key=key or f"k{age}{status}",
                       verified=True, status=status, body=b"{}", headers={}, payload={}, received_at=NOW - age)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def rows(db):
    """Rows on both sides of a 30-day boundary, plus domain rows that must survive."""
    old = event(db, 30 * DAY + timedelta(seconds=1))
    event(db, 45 * DAY, "ignored")
    event(db, 60 * DAY, "processed")
    event(db, 30 * DAY - timedelta(seconds=1))       # just inside the window: kept
    event(db, 29 * DAY)
    event(db, 90 * DAY, "received")                  # never processed: kept whatever its age
    event(db, 90 * DAY, "failed")                    # waiting for a retry: kept
    event(db, 90 * DAY, "dead")                      # a dead letter waits for a person: kept
    for age in (31 * DAY, 30 * DAY - timedelta(seconds=1)):
        db.session.add(RejectedCall(provider="cal_com", reason="invalid_signature", headers={}, created_at=NOW - age))
    prospect = Prospect(email="kept@example.com", created_at=NOW - 400 * DAY)
    db.session.add(prospect)
    db.session.flush()
    meeting = Meeting(provider="calendly", provider_ref="inv-old", prospect_id=prospect.id, created_at=NOW - 400 * DAY)
    db.session.add(meeting)
    db.session.flush()
    db.session.add(ProspectNote(prospect_id=prospect.id, body="old note", created_at=NOW - 400 * DAY))
    db.session.add(Notification(kind="prospect.created", moment_key="m1", event_id=old.id, data={},
                                created_at=NOW - 400 * DAY))
    outbound = OutboundEvent(msg_id="msg_1", type="meeting.scheduled", emit_key="e1", data={})
    subscription = WebhookSubscription(url="https://crm.example.com/hook", events=["*"], secret="whsec_x")
    db.session.add_all([outbound, subscription])
    db.session.flush()
    delivery = WebhookDelivery(outbound_event_id=outbound.id, subscription_id=subscription.id, msg_id="msg_1",
                               event_type="meeting.scheduled")
    db.session.add(delivery)
    db.session.flush()
    for age in (40 * DAY, 31 * DAY, 2 * DAY):
        db.session.add(DeliveryAttempt(delivery_id=delivery.id, number=1, url=subscription.url,
                                       created_at=NOW - age))
    db.session.commit()
    return old.id


def test_cleanup_deletes_only_old_finished_rows(app, db, rows):
    counts = retention.cleanup(30, now=NOW)
    assert counts == {"webhook_events": 3, "rejected_calls": 1, "delivery_attempts": 2, "idempotent_requests": 0,
                      "login_throttles": 0, "silent_processes": 0}
    ages = sorted((NOW - e.received_at.replace(tzinfo=NOW.tzinfo)).days
                  for e in db.session.execute(select(WebhookEvent)).scalars())
    assert ages == [29, 29, 90, 90, 90]  # 30 days minus a second, 29 days, and three unfinished
    assert count(db, RejectedCall) == 1 and count(db, DeliveryAttempt) == 1
    assert (count(db, Prospect), count(db, Meeting), count(db, ProspectNote), count(db, WebhookDelivery)) == (1, 1, 1, 1)
    notification = db.session.execute(select(Notification)).scalar_one()
    assert notification.event_id is None  # its event went; the notification stays
    assert retention.cleanup(30, now=NOW) == {"webhook_events": 0, "rejected_calls": 0, "delivery_attempts": 0,
                                              "idempotent_requests": 0, "login_throttles": 0,
                                              "silent_processes": 0}


def test_dry_run_counts_without_deleting(app, db, rows):
    assert retention.cleanup(30, dry_run=True, now=NOW) == {
        "webhook_events": 3, "rejected_calls": 1, "delivery_attempts": 2}
    assert count(db, WebhookEvent) == 8 and count(db, DeliveryAttempt) == 3


def test_default_retention_comes_from_config(app, db, rows):
    app.config["VANI_RETENTION_DAYS"] = 50
    assert retention.cleanup(now=NOW)["webhook_events"] == 1  # the 60-day one (the 90-day ones are unfinished)
    assert count(db, WebhookEvent) == 7


def test_cleanup_command(app, db, rows, monkeypatch):
    monkeypatch.setattr(retention, "utcnow", lambda: NOW)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["vani", "cleanup", "--days", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 3 webhook events older than 30 days" in dry.output
    assert count(db, WebhookEvent) == 8
    done = runner.invoke(args=["vani", "cleanup", "--days", "30"])
    assert "deleted 3 webhook events" in done.output and "deleted 1 rejected calls" in done.output
    assert "deleted 2 delivery attempts" in done.output
    assert runner.invoke(args=["vani", "cleanup", "--days", "0"]).exit_code == 2


def test_cron_jobs_run_in_a_worker_with_the_app_context(app, db, rows, redis_client, run_worker, monkeypatch):
    from vani.work.scheduler import build_cron
    from vani.work.wake import MAINTENANCE_QUEUE

    monkeypatch.setattr(retention, "utcnow", lambda: NOW)
    app.config["VANI_RETENTION_DAYS"] = 30
    scheduler = build_cron(redis_client, maintenance.CRON, name="test")
    [job] = [j for j in scheduler.get_jobs() if j.cron]
    assert (job.func_name, job.cron, job.queue_name) == (
        "vani.jobs.maintenance.daily_cleanup", maintenance.CLEANUP_CRON, MAINTENANCE_QUEUE)
    job.enqueue(redis_client)  # what the scheduler does at 03:17
    assert run_worker() == 1
    assert count(db, RejectedCall) == 1 and count(db, DeliveryAttempt) == 1


def test_daily_cleanup_job(app, db, rows, monkeypatch):
    monkeypatch.setattr(retention, "utcnow", lambda: NOW)
    app.config["VANI_RETENTION_DAYS"] = 30
    assert maintenance.daily_cleanup()["rejected_calls"] == 1
