"""What the dashboard's buttons do: replay, retries, subscriptions, notifications, users."""
from __future__ import annotations

import re

import pytest

from tests.web.seed import dead_redis, seed_all, seed_core, seed_outbound
from vani.accounts import memberships
from vani import orgs
from vani.extensions import db


def text(r) -> str:
    return r.get_data(as_text=True)


def post(client, path, **form):
    return client.post(path, data={**form, "csrf_token": client.csrf})


# --- replay ----------------------------------------------------------------------------------

def test_replay_queues_the_event_and_a_worker_processes_it(login, run_worker):
    from tests.signing import post_calendly
    from vani.models import WebhookEvent

    client = login("staff")
    body = {"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
            "payload": {"uri": "https://api.calendly.com/x/invitees/9", "email": "re@example.com"}}
    event_id = post_calendly(client, body).json["event_id"]
    run_worker()
    attempts = db.session.get(WebhookEvent, event_id).attempts
    r = post(client, f"/dashboard/events/{event_id}/replay")
    assert r.status_code == 302
    assert "queued for replay" in text(client.get(r.headers["Location"]))
    assert run_worker() >= 1
    db.session.expire_all()
    event = db.session.get(WebhookEvent, event_id)
    assert event.attempts == attempts + 1
    assert event.status in ("processed", "ignored")


def test_replay_runs_inline_when_redis_is_down(app, login):
    from vani.models import WebhookEvent

    data = seed_core()
    event = data["events"]["failed"]
    client = login("staff")
    saved = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        r = post(client, f"/dashboard/events/{event.id}/replay")
    finally:
        app.extensions["vani_redis"] = saved
    assert r.status_code == 302
    db.session.expire_all()
    replayed = db.session.get(WebhookEvent, event.id)
    assert replayed.attempts == 2  # processed once more, right away
    assert replayed.status != "processing"


def test_replay_unknown_event_is_404(login):
    seed = seed_core()
    before = {e.id: e.status for e in seed["events"].values()}
    r = post(login("staff"), "/dashboard/events/424242/replay")
    assert r.status_code == 404 and "There is no event 424242." in text(r)
    from vani.models import WebhookEvent

    assert {e.id: e.status for e in db.session.query(WebhookEvent)} == before  # nothing replayed


# --- deliveries ------------------------------------------------------------------------------

@pytest.fixture
def receiver(httpserver):
    httpserver.expect_request("/hooks", method="POST").respond_with_data("thanks", status=200)
    return httpserver


def test_retry_delivery_goes_through_the_worker(login, run_worker, receiver):
    from vani.models import WebhookDelivery

    data = seed_outbound(receiver.url_for("/hooks"))
    failed_id = data["failed"].id
    client = login("staff")
    r = post(client, f"/dashboard/deliveries/{failed_id}/retry")
    assert r.status_code == 303
    assert "queued for another attempt" in text(client.get(r.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, failed_id).status == "pending"
    run_worker()
    delivery = db.session.get(WebhookDelivery, failed_id)
    assert delivery.status == "delivered" and delivery.attempts == 2
    page = text(login("admin").get(f"/dashboard/deliveries/{failed_id}"))
    assert "manual" in page and "thanks" in page and "boom: receiver crashed" in page
    staff_page = text(client.get(f"/dashboard/deliveries/{failed_id}"))  # receivers' replies are for admins
    assert "manual" in staff_page and "thanks" not in staff_page and "boom: receiver crashed" not in staff_page
    assert len(receiver.log) == 1


def test_retry_all_failed_asks_first_then_requeues(login):
    from vani.models import WebhookDelivery

    data = seed_outbound()
    client = login("staff")
    listing = text(client.get("/dashboard/deliveries"))
    assert "Retry all failed (1)" in listing
    page = client.get(f"/dashboard/deliveries/retry-failed?subscription={data['subscription'].id}")
    assert page.status_code == 200 and "Retry 1 failed delivery?" in text(page)
    r = post(client, "/dashboard/deliveries/retry-failed", subscription=str(data["subscription"].id))
    assert r.status_code == 200  # no confirmation: asks again, changes nothing
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, data["failed"].id).status == "failed"
    r = post(client, "/dashboard/deliveries/retry-failed", subscription=str(data["subscription"].id), confirm="1")
    assert r.status_code == 303
    assert "Queued 1 failed delivery" in text(client.get(r.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, data["failed"].id).status == "pending"
    assert db.session.get(WebhookDelivery, data["delivered"].id).status == "delivered"


def test_retry_all_failed_honours_the_event_type_filter(login):
    from vani.models import WebhookDelivery

    data = seed_outbound()
    client = login("staff")
    r = post(client, "/dashboard/deliveries/retry-failed", event="prospect.created", confirm="1")
    assert "Queued 0 failed deliveries" in text(client.get(r.headers["Location"]))
    r = post(client, "/dashboard/deliveries/retry-failed", event="meeting.scheduled", confirm="1")
    assert "Queued 1 failed delivery" in text(client.get(r.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, data["failed"].id).status == "pending"


def test_deliveries_filters(login):
    data = seed_outbound()
    client = login("viewer")
    failed = text(client.get("/dashboard/deliveries?status=failed"))
    assert f'data-id="{data["failed"].id}"' in failed and f'data-id="{data["delivered"].id}"' not in failed
    assert "No deliveries match" in text(client.get("/dashboard/deliveries?event=payment.received"))
    assert "Retry" not in failed  # viewers get no buttons
    refused = client.get("/dashboard/deliveries?subscription=x")
    assert refused.status_code == 400
    assert "subscription: must be a whole number" in refused.get_data(as_text=True)


# --- subscriptions ---------------------------------------------------------------------------

def test_create_subscription_shows_the_secret_once(login):
    client = login("admin")
    r = post(client, "/dashboard/subscriptions", url="https://crm.example.com/in", events="meeting.* payment.received",
             description="CRM")
    assert r.status_code == 201
    secret = re.search(r'id="new-secret">(whsec_[^<]+)<', text(r)).group(1)
    from vani.models import WebhookSubscription

    sub = db.session.query(WebhookSubscription).one()
    assert sub.events == ["meeting.*", "payment.received"] and sub.secret == secret
    again = text(client.get(f"/dashboard/subscriptions/{sub.id}"))
    assert secret not in again and sub.masked_secret in again


def test_create_subscription_with_bad_input_explains(login):
    r = post(login("admin"), "/dashboard/subscriptions", url="not a url", events="*")
    assert r.status_code == 400
    assert "url:" in text(r)


def test_edit_disable_rotate_delete_subscription(login):
    from vani.models import WebhookSubscription

    data = seed_outbound()
    sub_id = data["subscription"].id
    client = login("admin")
    post(client, f"/dashboard/subscriptions/{sub_id}", url="https://new.example.com/h", events="prospect.created",
         description="")
    sub = db.session.get(WebhookSubscription, sub_id, populate_existing=True)
    assert sub.url == "https://new.example.com/h" and sub.events == ["prospect.created"]
    post(client, f"/dashboard/subscriptions/{sub_id}/active", active="0")
    sub = db.session.get(WebhookSubscription, sub_id, populate_existing=True)
    assert sub.active is False and sub.disabled_reason
    old = sub.secret
    r = post(client, f"/dashboard/subscriptions/{sub_id}/rotate")
    sub = db.session.get(WebhookSubscription, sub_id, populate_existing=True)
    assert sub.secret != old and sub.previous_secret == old
    assert sub.secret in text(r) and "previous secret also signs until" in text(r)
    refused = post(client, f"/dashboard/subscriptions/{sub_id}/delete")
    assert refused.status_code == 400  # not confirmed
    assert "Tick the confirmation box to delete a subscription." in refused.get_data(as_text=True)
    assert post(client, f"/dashboard/subscriptions/{sub_id}/delete", confirm="1").status_code == 303
    assert db.session.get(WebhookSubscription, sub_id, populate_existing=True) is None


def test_send_test_event(login):
    from vani.models import WebhookDelivery

    data = seed_outbound()
    client = login("staff")
    r = post(client, f"/dashboard/subscriptions/{data['subscription'].id}/test")
    assert r.status_code == 303
    delivery = db.session.query(WebhookDelivery).filter_by(event_type="webhook.test").one()
    assert r.headers["Location"].endswith(f"/dashboard/deliveries/{delivery.id}")


# --- notifications ---------------------------------------------------------------------------

def test_retry_failed_notification(login):
    from vani.models import NotificationSend

    data = seed_all()
    client = login("staff")
    page = text(client.get("/dashboard/notifications"))
    assert "HTTP 500 from Slack" in page and "Retry" in page
    r = post(client, f"/dashboard/notifications/{data['failed_notification'].id}/retry")
    assert r.status_code == 303
    assert "queued again" in text(client.get(r.headers["Location"]))
    send = db.session.query(NotificationSend).filter_by(notification_id=data["failed_notification"].id,
                                                       channel="slack").one()
    db.session.refresh(send)
    assert send.status == "pending"  # queued for a worker


# --- users -----------------------------------------------------------------------------------

def test_admin_manages_users(app, login, make_user):
    from tests.clients import csrf_token_from, fresh_client
    from vani.models import User

    admin = login("admin")
    user = make_user("staff", email="new@example.com")
    r = post(admin, "/dashboard/invitations", email="New@Example.com", role="staff")
    assert r.status_code == 409 and "is a member already" in text(r)
    refused = post(admin, "/dashboard/invitations", email="x@example.com", role="boss")
    assert refused.status_code == 400
    assert "Role must be one of admin, staff, viewer." in text(refused)
    assert "x@example.com" not in text(admin.get("/dashboard/users"))  # no invitation stored
    post(admin, f"/dashboard/users/{user.id}", role="viewer")
    post(admin, f"/dashboard/users/{user.id}/password", password="brand-new-pass")
    refused = post(admin, f"/dashboard/users/{user.id}/password", password="short")
    assert refused.status_code == 400
    assert "Passwords need at least 8 characters." in text(refused)
    db.session.refresh(user)
    assert memberships.role_of(user.id, orgs.default_id()) == "viewer" and user.check_password("brand-new-pass")
    post(admin, f"/dashboard/users/{user.id}", active="0")
    db.session.refresh(user)
    assert user.active is False
    other = fresh_client(app)
    r = other.post("/dashboard/login", data={"email": "new@example.com", "password": "brand-new-pass",
                                             "csrf_token": csrf_token_from(other)})
    assert r.status_code == 401
    assert db.session.query(User).count() == 2


def test_admin_cannot_lock_themselves_out(login):
    admin = login("admin")
    r = post(admin, f"/dashboard/users/{admin.user.id}", role="viewer")
    assert r.status_code == 409 and "your own admin access" in text(r)
    r = post(admin, f"/dashboard/users/{admin.user.id}", active="0")
    assert r.status_code == 409
    db.session.refresh(admin.user)
    assert memberships.role_of(admin.user.id, orgs.default_id()) == "admin" and admin.user.active
