"""The Gmail sync against a fake Google on loopback: history pages, messages.get, the bounded
resync when the history is gone, token refresh, refused grants, failures retried, and pushes
that arrive together storing each message once."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.fakes.google import (
    ADDRESS,
    CLIENT_ID,
    CLIENT_SECRET,
    ME,
    add_mailbox,
    fake_google,
    gmail_error,
    json_response,
    mailbox_now,
    message,
    push,
)
from tests.work.helpers import drain
from vani.extensions import db
from vani.mail import mailboxes
from vani.mail.sync import MAILBOX_SYNCS
from vani.models import Email, MailboxState, SyncStatus, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.providers.gmail import sync as gmail_sync

HEADERS = ["From", "To", "Cc", "Subject", "Date", "Message-ID"]


@pytest.fixture
def google(app, httpserver, monkeypatch):
    yield from fake_google(app, httpserver, monkeypatch)


def added(mid: str, *labels: str) -> dict:
    return {"message": {"id": mid, "threadId": f"t-{mid}", "labelIds": list(labels or ("INBOX",))}}


def two_pages(google, start: str = "500") -> None:
    """Page one adds m1 and a draft; page two m2 (sent) and m1 again."""
    google.history[(start, None)] = {"history": [
        {"id": "501", "messages": [{"id": "m1"}], "messagesAdded": [added("m1", "INBOX", "UNREAD")]},
        {"id": "502", "messages": [{"id": "d1"}], "messagesAdded": [added("d1", "DRAFT")]}],
        "nextPageToken": "page-2", "historyId": "610"}
    google.history[(start, "page-2")] = {"history": [
        {"id": "505", "messagesAdded": [added("m2", "SENT"), added("m1", "INBOX")]}], "historyId": "610"}
    google.messages["m1"] = message("m1")
    google.messages["m2"] = message("m2", frm=f"Sam Seller <{ADDRESS}>", to="Rita Buyer <rita@buyer.test>",
                                    labels=("SENT",), subject="Re: Pricing", thread="t-m1")


def sync_now(mailbox) -> None:
    mailboxes.request_sync(mailbox.id)
    drain(MAILBOX_SYNCS)


def events() -> list[WebhookEvent]:
    db.session.expire_all()
    return db.session.execute(select(WebhookEvent).where(WebhookEvent.event_type.like("email.%"))
                              .order_by(WebhookEvent.id)).scalars().all()


def args(request) -> dict:
    return request.args.to_dict(flat=False)


def test_history_in_two_pages_then_each_message_once(google):
    mailbox = add_mailbox(google)
    two_pages(google)
    sync_now(mailbox)

    first, second = google.requests("GET", ME + "/history")
    assert args(first) == {"startHistoryId": ["500"], "historyTypes": ["messageAdded"], "maxResults": ["100"]}
    assert args(second) == {**args(first), "pageToken": ["page-2"]}
    assert {r.headers["Authorization"] for r in (first, second)} == {"Bearer ya29.at-1"}
    [get_m1] = google.requests("GET", ME + "/messages/m1")  # listed twice, fetched once
    assert args(get_m1) == {"format": ["metadata"], "metadataHeaders": HEADERS}
    assert get_m1.headers["Authorization"] == "Bearer ya29.at-1"
    assert len(google.requests("GET", ME + "/messages/m2")) == 1
    assert google.requests("GET", ME + "/messages/d1") == []  # drafts are not mail

    received, sent = events()
    assert (received.event_type, sent.event_type) == ("email.received", "email.sent")
    assert (received.provider, received.dedupe_key, received.verified) == ("gmail", f"{mailbox.id}:m1", True)
    assert received.payload == {
        "mailbox": {"id": mailbox.id, "kind": "gmail", "address": ADDRESS},
        "message": {"provider_message_id": "m1", "direction": "inbound", "message_id": "<m1@mail.buyer.test>",
                    "thread_id": "t-m1", "from_address": "rita@buyer.test", "from_name": "Rita Buyer",
                    "to": [ADDRESS], "cc": ["lee@buyer.test", "other@buyer.test"], "subject": "Pricing",
                    "snippet": "About Pricing", "date": "2026-01-01T09:30:00+01:00", "labels": ["INBOX", "UNREAD"],
                    "folder": None}}
    assert sent.payload["message"]["direction"] == "outbound" and sent.payload["message"]["to"] == ["rita@buyer.test"]
    box = mailbox_now()
    assert (box.history_id, box.state, box.status, box.last_error) == ("610", MailboxState.CONNECTED,
                                                                        SyncStatus.IDLE, None)


def test_nothing_new_still_moves_the_position(google):
    mailbox = add_mailbox(google)
    google.history[("500", None)] = {"historyId": "777"}
    sync_now(mailbox)
    assert events() == [] and mailbox_now().history_id == "777"
    assert google.requests("GET", ME + "/profile") == []


def test_history_gone_means_a_bounded_resync(google, app):
    app.config["GMAIL_RESYNC_DAYS"] = 3
    mailbox = add_mailbox(google, history_id="300")
    google.oldest_history = 400  # Gmail keeps about a week of history
    google.listing[None] = {"messages": [{"id": "m3", "threadId": "t-m3"}], "nextPageToken": "L2",
                            "resultSizeEstimate": 2}
    google.listing["L2"] = {"messages": [{"id": "m1", "threadId": "t-m1"}], "resultSizeEstimate": 2}
    google.messages.update(m1=message("m1"), m3=message("m3", subject="Contract"))
    sync_now(mailbox)

    [history] = google.requests("GET", ME + "/history")
    assert args(history)["startHistoryId"] == ["300"]
    page1, page2 = google.requests("GET", ME + "/messages")
    assert args(page1) == {"q": ["newer_than:3d"], "maxResults": ["100"]}
    assert args(page2) == {"q": ["newer_than:3d"], "maxResults": ["100"], "pageToken": ["L2"]}
    assert len(google.requests("GET", ME + "/profile")) == 1
    assert [e.payload["message"]["provider_message_id"] for e in events()] == ["m1", "m3"]  # oldest first
    assert mailbox_now().history_id == "1000"  # the profile's, read before the listing


def test_no_position_yet_reads_the_recent_days(google):
    mailbox = add_mailbox(google, history_id=None)
    google.listing[None] = {"messages": [{"id": "m1", "threadId": "t-m1"}]}
    google.messages["m1"] = message("m1")
    sync_now(mailbox)
    assert google.requests("GET", ME + "/history") == []
    assert args(google.requests("GET", ME + "/messages")[0])["q"] == ["newer_than:7d"]
    assert len(events()) == 1 and mailbox_now().history_id == "1000"


def test_a_token_about_to_expire_is_refreshed_first(google):
    mailbox = add_mailbox(google, expires_in=timedelta(minutes=2))
    two_pages(google)
    sync_now(mailbox)

    [refresh] = google.requests("POST", "/token")
    assert "Authorization" not in refresh.headers
    assert refresh.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert refresh.form.to_dict() == {"grant_type": "refresh_token", "refresh_token": "1//rt-1",
                                      "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert {r.headers["Authorization"] for r in google.requests("GET", ME + "/history")} == {"Bearer ya29.at-2"}
    box = mailbox_now()
    assert (box.access_token, box.refresh_token) == ("ya29.at-2", "1//rt-1")
    assert timedelta(minutes=55) < as_utc(box.token_expires_at) - utcnow() <= timedelta(hours=1)
    assert len(events()) == 2


def test_a_token_google_stopped_accepting_is_refreshed_once(google):
    mailbox = add_mailbox(google)
    google.live_access.clear()  # e.g. the user changed their password
    two_pages(google)
    sync_now(mailbox)
    assert len(google.requests("POST", "/token")) == 1 and len(events()) == 2
    assert mailbox_now().state == MailboxState.CONNECTED


def test_a_refused_grant_asks_for_a_reconnect(google):
    mailbox = add_mailbox(google, expires_in=timedelta(seconds=-5))
    google.live_refresh.clear()  # revoked in the Google account
    sync_now(mailbox)
    box = mailbox_now()
    assert (box.state, box.status, box.next_attempt_at) == (MailboxState.NEEDS_RECONNECT, SyncStatus.DEAD, None)
    assert "invalid_grant" in box.last_error and google.requests("GET", ME + "/history") == []


def test_401_after_a_refresh_asks_for_a_reconnect(google):
    mailbox = add_mailbox(google)
    for _ in range(2):
        google.queue("GET " + ME + "/history", gmail_error(401, "Invalid Credentials", "authError"))
    sync_now(mailbox)
    assert len(google.requests("POST", "/token")) == 1 and len(google.requests("GET", ME + "/history")) == 2
    box = mailbox_now()
    assert box.state == MailboxState.NEEDS_RECONNECT and "Invalid Credentials" in box.last_error


def test_403_without_permission_asks_for_a_reconnect_but_a_rate_limit_is_retried(google):
    mailbox = add_mailbox(google)
    google.queue("GET " + ME + "/history", gmail_error(403, "Rate Limit Exceeded", "userRateLimitExceeded"))
    sync_now(mailbox)
    assert (mailbox_now().state, mailbox_now().status) == (MailboxState.ERROR, SyncStatus.FAILED)
    google.queue("GET " + ME + "/history", gmail_error(403, "Insufficient Permission", "insufficientPermissions"))
    sync_now(mailbox)
    assert mailbox_now().state == MailboxState.NEEDS_RECONNECT


def test_a_server_error_is_retried_with_nothing_stored(google):
    mailbox = add_mailbox(google)
    two_pages(google)
    google.queue("GET " + ME + "/messages/m2", json_response({"error": {"code": 503, "message": "Backend Error"}}, 503))
    sync_now(mailbox)
    box = mailbox_now()
    assert (box.state, box.status, box.history_id) == (MailboxState.ERROR, SyncStatus.FAILED, "500")
    assert "503" in box.last_error and as_utc(box.next_attempt_at) > utcnow() and events() == []
    sync_now(mailbox)  # the retry, asked for now
    assert len(events()) == 2 and mailbox_now().history_id == "610"


def test_a_gmail_that_does_not_answer_in_time_is_retried(google, app, httpserver):
    app.config["VANI_MAIL_TIMEOUT_SECONDS"] = 0.2
    mailbox = add_mailbox(google)
    release = threading.Event()
    httpserver.expect_oneshot_request(ME + "/history").respond_with_handler(
        lambda r: release.wait(10) and json_response({"historyId": "999"}))
    started = time.monotonic()
    sync_now(mailbox)
    assert time.monotonic() - started < 3
    box = mailbox_now()
    assert box.status == SyncStatus.FAILED and "timed out" in box.last_error and box.history_id == "500"
    release.set()  # let the fake finish before the next test uses it
    while not httpserver.log and time.monotonic() - started < 10:
        time.sleep(0.05)


def test_pushes_arriving_together_store_each_message_once(google, app, client, run_worker):
    app.config["GMAIL_PUSH_TOKEN"] = "push-token"
    add_mailbox(google)
    two_pages(google)
    for n in (1, 2):
        r = client.post("/api/webhooks/gmail?token=push-token", data=push(ADDRESS, 600 + n, f"ps-{n}"),
                        content_type="application/json")
        assert r.status_code == 200 and r.json["status"] == "accepted"
    run_worker()
    assert [e.payload["message"]["provider_message_id"] for e in events()] == ["m1", "m2"]
    assert {e.status for e in events()} == {"processed"}
    assert db.session.execute(select(func.count()).select_from(Email)).scalar_one() == 2

    # Gmail dropped the old history: the resync lists both messages again, and a third push comes.
    google.oldest_history = 1000
    google.listing[None] = {"messages": [{"id": "m2"}, {"id": "m1"}]}
    r = client.post("/api/webhooks/gmail?token=push-token", data=push(ADDRESS, 620, "ps-3"),
                    content_type="application/json")
    assert r.json["status"] == "accepted"
    run_worker()
    assert len(google.requests("GET", ME + "/messages")) == 1  # the resync did run
    assert len(events()) == 2 and db.session.execute(select(func.count()).select_from(Email)).scalar_one() == 2
    assert mailbox_now().history_id == "1000"
    assert datetime(2026, 1, 1, 8, 30, tzinfo=timezone.utc) == as_utc(
        db.session.execute(select(Email.sent_at).where(Email.provider_message_id == "m1")).scalar_one())


def test_a_long_history_is_read_over_several_syncs(google, monkeypatch):
    monkeypatch.setattr(gmail_sync, "MAX_MESSAGES", 1)
    mailbox = add_mailbox(google)
    two_pages(google)
    google.history[("502", None)] = google.history[("500", "page-2")]
    sync_now(mailbox)  # the first sync stops after page one and asks for another
    assert [args(r).get("startHistoryId") for r in google.requests("GET", ME + "/history")] == [["500"], ["502"]]
    assert [e.payload["message"]["provider_message_id"] for e in events()] == ["m1", "m2"]
    assert (mailbox_now().history_id, mailbox_now().status) == ("610", SyncStatus.IDLE)


def test_one_push_subscription_serves_every_organisation(google, app, client, run_worker):
    """A push reaches the default URL; it is stored, and acted on, only by the organisations that
    connected that mailbox, so no other organisation sees the address."""
    from vani import orgs, tenancy

    app.config["GMAIL_PUSH_TOKEN"] = "push-token"
    default = tenancy.require()
    beta = orgs.create("Beta", slug="beta").id
    with tenancy.acting_for(beta):
        add_mailbox(google)
    r = client.post("/api/webhooks/gmail?token=push-token", data=push(ADDRESS, 700, "ps-beta"),
                    content_type="application/json")
    assert r.status_code == 200 and r.json["status"] == "accepted"
    with tenancy.everywhere():
        stored = db.session.execute(select(WebhookEvent.org_id).where(WebhookEvent.provider == "gmail")).scalars().all()
    assert stored == [beta]
    from vani.processing.events import EVENTS

    drain(EVENTS)
    assert mailbox_now(beta).status == SyncStatus.PENDING and mailbox_now(default) is None
    # An address nobody connected stays with the organisation whose URL was called, ignored.
    client.post("/api/webhooks/gmail?token=push-token", data=push("nobody@example.com", 1, "ps-x"),
                content_type="application/json")
    run_worker()
    with tenancy.acting_for(default):
        (ignored,) = db.session.execute(select(WebhookEvent)).scalars().all()
    assert ignored.status == "ignored" and ignored.subject_email == "nobody@example.com"
