"""Notifications: routing, Slack against a local HTTP receiver, failure and retry, giving up,
retry by hand, never sending the same moment twice, and the CLI."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Response

from tests.notifications.helpers import PUBLIC, inbound, message_notification, post_twilio, sends, time_passes
from tests.work.helpers import drain, woken
from vani import notifications
from vani.models import Notification
from vani.models.base import utcnow
from vani.notifications.routing import RouteError, channels_for, parse_routes
from vani.notifications.sending import NOTIFICATION_SENDS


@pytest.fixture
def slack(app, httpserver):
    """A local Slack stand-in: answers 500 to the first ``fail`` calls, then 200 "ok"."""
    state = {"fail": 0, "requests": []}

    def handler(request):
        state["requests"].append(request.get_json())
        if len(state["requests"]) <= state["fail"]:
            return Response("internal_error", status=500)
        return Response("ok", status=200)

    httpserver.expect_request("/services/T0/B0/x", method="POST").respond_with_handler(handler)
    app.config.update(SLACK_WEBHOOK_URL=httpserver.url_for("/services/T0/B0/x"), PUBLIC_URL=PUBLIC,
                      VANI_NOTIFY_ROUTES="message.received=slack;*=none")
    return state


# -- routing -------------------------------------------------------------------------------
def test_routes():
    assert parse_routes(None) is None and parse_routes("  ") is None
    routes = parse_routes("payment.received=slack,email; meeting.completed = slack\n*=webhook;message.received=none")
    assert routes == {"payment.received": ["slack", "email"], "meeting.completed": ["slack"],
                      "*": ["webhook"], "message.received": []}
    cfg = {"VANI_NOTIFY_ROUTES": "payment.received=slack,email;*=webhook"}
    assert channels_for("payment.received", cfg) == ["slack", "email"]
    assert channels_for("prospect.created", cfg) == ["webhook"]
    # Unset: every configured channel.
    assert channels_for("prospect.created", {}) == ["webhook"]
    full = {"SLACK_WEBHOOK_URL": "http://x", "SMTP_URL": "smtp://h", "VANI_NOTIFY_EMAIL_TO": "a@b.c"}
    assert channels_for("prospect.created", full) == ["slack", "email", "webhook"]
    for bad in ("payment.received", "payment.received=sms", "=slack"):
        with pytest.raises(RouteError):
            parse_routes(bad)


def test_bad_routes_leave_the_notification_pending_with_the_reason(client, app, run_worker, db):
    app.config["VANI_NOTIFY_ROUTES"] = "message.received=pager"
    post_twilio(client, inbound("SMn0"))
    run_worker()
    n = message_notification(db)
    assert n.status == "pending" and "unknown channel 'pager'" in n.last_error
    assert sends(db) == []


def test_slack_block_kit_message(client, run_worker, db, slack):
    post_twilio(client, inbound("SMn1", "Can+we+talk+%3Ctoday%3E%3F"))
    run_worker()
    assert len(slack["requests"]) == 1
    body = slack["requests"][0]
    n = message_notification(db)
    assert body["text"].startswith("New WhatsApp message: Nadia K wrote on WhatsApp")
    blocks = {b["type"]: b for b in body["blocks"]}
    assert blocks["header"]["text"]["text"] == "New WhatsApp message"
    assert "> Can we talk &lt;today&gt;?" in [b for b in body["blocks"] if b["type"] == "section"][1]["text"]["text"]
    # A message links to its conversation, where the team can answer.
    assert blocks["actions"]["elements"][0]["url"] == f"{PUBLIC}/dashboard/messages/{n.data['conversation_id']}"
    (row,) = sends(db)
    assert (row.channel, row.status, row.attempts) == ("slack", "sent", 1) and row.sent_at
    assert (n.status, n.attempts) == ("sent", 1)
    # prospect.created is muted by "*=none": recorded as skipped, nothing sent.
    created = db.session.execute(select(Notification).where(Notification.kind == "prospect.created")).scalar_one()
    assert created.status == "skipped"


def test_slack_failure_then_retry_sends_once(client, run_worker, db, slack):
    slack["fail"] = 1
    post_twilio(client, inbound("SMn2"))
    run_worker()
    (row,) = sends(db)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "Slack answered 500" in row.last_error and row.next_attempt_at is not None
    assert message_notification(db).status == "failed"
    # Not due yet: the sweep leaves it alone.
    assert not woken("notification_sends")
    time_passes(db, row)
    assert woken("notification_sends")
    run_worker()
    (row,) = sends(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    row_id = row.id
    assert message_notification(db).status == "sent"
    assert len(slack["requests"]) == 2
    # Nothing sends it again: the sweep, a replayed event, duplicate drain jobs, a direct drain.
    from vani.processing.events import reprocess
    from vani.work import kick

    assert not woken("notification_sends", now=utcnow() + timedelta(days=1))
    assert reprocess(message_notification(db).event_id) == "processed"
    kick(NOTIFICATION_SENDS)
    kick(NOTIFICATION_SENDS, slot=1)
    run_worker()
    assert drain(NOTIFICATION_SENDS, now=utcnow() + timedelta(days=1)) == 0
    assert [(r.id, r.status) for r in sends(db)] == [(row_id, "sent")]
    assert len(slack["requests"]) == 2


def test_gives_up_after_max_attempts_and_retry_by_hand(client, app, run_worker, db, slack):
    app.config["VANI_NOTIFY_MAX_ATTEMPTS"] = 1
    slack["fail"] = 1
    post_twilio(client, inbound("SMn4"))
    run_worker()
    (row,) = sends(db)
    assert row.status == "dead" and row.next_attempt_at is None  # gave up: a dead letter
    assert not woken("notification_sends", now=utcnow() + timedelta(days=1))
    n_id = message_notification(db).id
    assert notifications.retry_notification(n_id) == [row.id]
    run_worker()
    (row,) = sends(db)
    assert (row.status, row.attempts) == ("sent", 2) and len(slack["requests"]) == 2
    with pytest.raises(ValueError):
        notifications.retry_notification(n_id)
    with pytest.raises(LookupError):
        notifications.retry_notification(999999)
    assert [s.channel for s in notifications.sends_for([n_id])[n_id]] == ["slack"]


def test_unconfigured_channel_is_skipped_then_retried(client, app, run_worker, db, httpserver):
    app.config["VANI_NOTIFY_ROUTES"] = "message.received=slack;*=none"
    post_twilio(client, inbound("SMn5"))
    run_worker()
    (row,) = sends(db)
    assert (row.status, row.detail) == ("skipped", "SLACK_WEBHOOK_URL is not set")
    assert message_notification(db).status == "skipped"
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app.config["SLACK_WEBHOOK_URL"] = httpserver.url_for("/hook")
    notifications.retry_notification(message_notification(db).id)
    run_worker()
    assert sends(db)[0].status == "sent" and len(httpserver.log) == 1


# -- CLI -----------------------------------------------------------------------------------
def test_cli_test_retry_and_sweep(app, client, run_worker, db, slack):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vani", "notifications", "test", "--channel", "slack"])
    assert result.exit_code == 0 and "slack: sent" in result.output, result.output
    assert slack["requests"][-1]["blocks"][0]["text"]["text"] == "Vani test notification"
    result = runner.invoke(args=["vani", "notifications", "test", "--channel", "email"])
    assert result.exit_code != 0 and "SMTP_URL is not set" in result.output
    slack["fail"] = 99
    post_twilio(client, inbound("SMc1"))
    run_worker()
    n_id = message_notification(db).id
    result = runner.invoke(args=["vani", "notifications", "retry", str(n_id)])
    assert result.exit_code == 0 and "queued 1 send(s)" in result.output
    assert runner.invoke(args=["vani", "notifications", "retry", "999999"]).exit_code != 0
    result = runner.invoke(args=["vani", "sweep"])
    assert result.exit_code == 0 and "notification_sends: woken" in result.output
