""""Connect Gmail" against a fake Google on loopback: the sign-in with state and PKCE, the code
exchange, the profile and users.watch, tokens stored encrypted, the refusals, disconnecting, and
the daily renewal of every organisation's watches."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from tests.fakes.google import (
    ADDRESS,
    CLIENT_ID,
    CLIENT_SECRET,
    ME,
    REDIRECT,
    TOPIC,
    WATCH_EXPIRES_MS,
    add_mailbox,
    fake_google,
    gmail_error,
    json_response,
    mailbox_now,
)
from tests.work.helpers import drain
from vani.accounts import memberships
from vani import orgs, tenancy
from vani.extensions import db
from vani.mail.sync import MAILBOX_SYNCS
from vani.models import Mailbox, MailboxState, SyncStatus
from vani.models.base import as_utc

SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


@pytest.fixture
def google(app, httpserver, monkeypatch):
    yield from fake_google(app, httpserver, monkeypatch)


def start(client, google) -> dict:
    """Open Connect Gmail; answers the authorize URL's query (the fake learns the challenge)."""
    r = client.get("/dashboard/mailboxes/gmail/connect")
    assert r.status_code == 302, r.get_data(as_text=True)
    url = urlsplit(r.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == google.base + "/o/oauth2/v2/auth"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    google.challenge = query.get("code_challenge")
    return query


def connect(client, google) -> str:
    """The whole sign-in; answers the mailboxes page after it."""
    query = start(client, google)
    r = client.get(f"/dashboard/mailboxes/gmail/callback?code=the-code&state={query['state']}&scope={SCOPE}")
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboard/mailboxes"), r.get_data(as_text=True)
    return client.get("/dashboard/mailboxes").get_data(as_text=True)


def count_mailboxes() -> int:
    return db.session.execute(select(func.count()).select_from(Mailbox).execution_options(unscoped=True)).scalar_one()


def test_connect_sends_the_admin_to_google_with_state_and_pkce(google, login):
    client = login("admin")
    query = start(client, google)
    assert {k: query[k] for k in ("client_id", "response_type", "redirect_uri", "scope", "access_type", "prompt",
                                  "code_challenge_method")} == {
        "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE,
        "access_type": "offline", "prompt": "consent", "code_challenge_method": "S256"}
    with client.session_transaction() as session:
        pending = session["gmail_oauth"]
    assert pending["state"] == query["state"] and len(query["state"]) >= 20 and pending["org_id"] == tenancy.require()
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert google.server.log == []


def test_connecting_end_to_end(google, login):
    page = connect(login("admin"), google)

    [exchange] = google.requests("POST", "/token")
    assert "Authorization" not in exchange.headers
    assert exchange.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = exchange.form.to_dict()
    assert form.pop("code_verifier")
    assert form == {"grant_type": "authorization_code", "code": "the-code", "redirect_uri": REDIRECT,
                    "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    [profile] = google.requests("GET", ME + "/profile")
    assert profile.headers["Authorization"] == "Bearer ya29.at-1"
    [watch] = google.requests("POST", ME + "/watch")
    assert watch.headers["Authorization"] == "Bearer ya29.at-1" and watch.args.to_dict() == {}
    assert watch.get_json() == {"topicName": TOPIC, "labelIds": ["INBOX", "SENT"], "labelFilterBehavior": "INCLUDE"}

    box = mailbox_now()
    assert (box.address, box.state, box.last_error, box.history_id) == (ADDRESS, MailboxState.CONNECTED, None, None)
    assert (box.access_token, box.refresh_token) == ("ya29.at-1", "1//rt-1")
    assert as_utc(box.watch_expires_at) == datetime.fromtimestamp(WATCH_EXPIRES_MS / 1000, timezone.utc)
    raw = db.session.execute(text("SELECT access_token, refresh_token FROM mailboxes")).one()
    assert not any("ya29" in value or "rt-1" in value for value in raw)  # encrypted at rest
    assert f"{ADDRESS}: connected {ADDRESS}; Gmail pushes its changes to Vani." in page

    assert box.status == SyncStatus.PENDING  # its first sync is due: it reads the last days
    drain(MAILBOX_SYNCS)
    [listing] = google.requests("GET", ME + "/messages")
    assert listing.args["q"] == "newer_than:7d" and google.requests("GET", ME + "/history") == []
    assert (mailbox_now().status, mailbox_now().history_id) == (SyncStatus.IDLE, "1000")


@pytest.mark.parametrize("state", ["", "state=not-the-one"])
def test_a_callback_with_a_wrong_or_missing_state_is_refused(google, login, state):
    client = login("admin")
    start(client, google)
    r = client.get(f"/dashboard/mailboxes/gmail/callback?code=the-code&{state}")
    assert r.status_code == 400 and "does not match one started here" in r.get_data(as_text=True)
    assert count_mailboxes() == 0 and google.requests("POST", "/token") == []


def test_a_callback_in_another_organisation_is_refused(google, login):
    beta = orgs.create("Beta")
    client = login("admin")
    memberships.set_member(client.user, beta.id, "admin")
    db.session.commit()
    query = start(client, google)
    assert client.post("/dashboard/orgs/switch", data={"org": "beta", "csrf_token": client.csrf}).status_code == 303
    r = client.get(f"/dashboard/mailboxes/gmail/callback?code=the-code&state={query['state']}")
    assert r.status_code == 403 and "started for another organisation" in r.get_data(as_text=True)
    assert count_mailboxes() == 0 and google.requests("POST", "/token") == []


def test_google_declining_is_shown(google, login):
    client = login("admin")
    start(client, google)
    r = client.get("/dashboard/mailboxes/gmail/callback?error=access_denied")
    assert r.status_code == 400 and "Google did not connect the mailbox: access_denied" in r.get_data(as_text=True)
    assert count_mailboxes() == 0


def test_without_the_settings_connect_says_what_to_set(google, app, login):
    app.config["GMAIL_PUBSUB_TOPIC"] = None
    page = login("admin").get("/dashboard/mailboxes/gmail/connect", follow_redirects=True).get_data(as_text=True)
    assert "Connecting Gmail is not set up: GMAIL_PUBSUB_TOPIC not set." in page and google.server.log == []


def test_only_an_admin_connects(google, login):
    r = login("staff").get("/dashboard/mailboxes/gmail/connect")
    assert r.status_code == 403 and "needs the admin role" in r.get_data(as_text=True)
    assert count_mailboxes() == 0 and google.server.log == []  # not sent to Google


def test_a_refused_code_stores_nothing(google, login):
    client = login("admin")
    query = start(client, google)
    google.challenge = "another-challenge"  # the verifier no longer matches: Google says invalid_grant
    r = client.get(f"/dashboard/mailboxes/gmail/callback?code=the-code&state={query['state']}", follow_redirects=True)
    assert "Connecting Gmail did not finish: Google refused the token request (400) - invalid_grant" \
        in r.get_data(as_text=True)
    assert count_mailboxes() == 0 and google.requests("GET", ME + "/profile") == []


def test_a_refused_watch_still_connects_and_says_so(google, login):
    google.queue("POST " + ME + "/watch", gmail_error(
        403, "Error sending test message to Cloud PubSub: User not authorized to perform this action.", "forbidden"))
    page = connect(login("admin"), google)
    assert "Not done: Gmail did not start pushing changes" in page and "User not authorized" in page
    box = mailbox_now()
    assert box.state == MailboxState.CONNECTED and box.history_id is None and box.watch_expires_at is None
    assert "User not authorized" in box.last_error


def test_connecting_again_heals_the_mailbox_and_keeps_its_position(google, login):
    admin = login("admin")
    connect(admin, google)
    box = mailbox_now()
    box.history_id, box.state, box.refresh_token = "640", MailboxState.NEEDS_RECONNECT, "1//revoked"
    db.session.commit()
    connect(admin, google)
    box = mailbox_now()
    assert (box.state, box.history_id, box.refresh_token, box.access_token) == (
        MailboxState.CONNECTED, "640", "1//rt-2", "ya29.at-2")
    assert count_mailboxes() == 1


def test_disconnect_stops_the_push_revokes_and_removes(google, login):
    admin = login("admin")
    connect(admin, google)
    box = mailbox_now()
    page = admin.post(f"/dashboard/mailboxes/{box.id}/gmail/disconnect", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    [stop] = google.requests("POST", ME + "/stop")
    [revoke] = google.requests("POST", "/revoke")
    assert stop.headers["Authorization"] == "Bearer ya29.at-1" and revoke.form.to_dict() == {"token": "1//rt-1"}
    assert google.live_refresh == set() and count_mailboxes() == 0
    assert "stopped the push; revoked Vani&#39;s access; removed the mailbox from Vani" in page


def test_disconnect_when_google_fails_still_removes_and_says_what_was_not_done(google, login):
    admin = login("admin")
    connect(admin, google)
    google.queue("POST " + ME + "/stop", gmail_error(500, "Backend Error", "backendError"))
    google.queue("POST /revoke", json_response({"error": "server_error"}, 503))
    page = admin.post(f"/dashboard/mailboxes/{mailbox_now().id}/gmail/disconnect", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    assert "Not done: stopping the push: Gmail POST /stop failed (500) - Backend Error" in page
    assert "revoking Vani&#39;s access: Google did not revoke the token: 503" in page and count_mailboxes() == 0


def test_disconnect_needs_an_admin(google, login):
    connect(login("admin"), google)
    staff = login("staff")
    r = staff.post(f"/dashboard/mailboxes/{mailbox_now().id}/gmail/disconnect", data={"csrf_token": staff.csrf})
    assert r.status_code == 403 and count_mailboxes() == 1 and google.requests("POST", ME + "/stop") == []


def test_the_daily_job_renews_every_organisations_watch(google):
    from vani.jobs import maintenance

    beta = orgs.create("Beta")
    add_mailbox(google)
    with tenancy.acting_for(beta.id):
        add_mailbox(google, address="beta@sales.example.com")
        gone = add_mailbox(google, address="gone@sales.example.com")
    google.live_refresh.discard(gone.refresh_token)
    google.live_access.discard(gone.access_token)  # revoked: the refresh is refused too
    assert maintenance.renew_gmail_watches() == {"mailboxes": 3, "renewed": 2, "failed": 1}

    watches = google.requests("POST", ME + "/watch")
    assert [w.headers["Authorization"] for w in watches] == ["Bearer ya29.at-1", "Bearer ya29.at-2",
                                                             "Bearer ya29.at-3"]
    assert all(w.get_json()["topicName"] == TOPIC for w in watches)
    expiry = datetime.fromtimestamp(WATCH_EXPIRES_MS / 1000, timezone.utc)
    assert as_utc(mailbox_now().watch_expires_at) == expiry and mailbox_now().history_id == "500"  # position kept
    db.session.expire_all()
    with tenancy.acting_for(beta.id):
        boxes = {b.address: b for b in db.session.execute(select(Mailbox)).scalars()}
    assert as_utc(boxes["beta@sales.example.com"].watch_expires_at) == expiry
    assert boxes["gone@sales.example.com"].state == MailboxState.NEEDS_RECONNECT
    assert "invalid_grant" in boxes["gone@sales.example.com"].last_error
    assert maintenance.renew_gmail_watches()["mailboxes"] == 2  # left for an admin to reconnect


def test_disconnect_is_for_gmail_mailboxes_of_this_organisation(google, login):
    from vani.mail import mailboxes

    admin = login("admin")
    imap = mailboxes.add_imap({"host": "imap.example.com", "user": "ops@example.com", "password": "pw-123456"})
    page = admin.post(f"/dashboard/mailboxes/{imap.id}/gmail/disconnect", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    assert "ops@example.com is not a Gmail mailbox: remove it instead." in page and count_mailboxes() == 1
    r = admin.post(f"/dashboard/mailboxes/{imap.id + 1}/gmail/disconnect", data={"csrf_token": admin.csrf})
    assert r.status_code == 404 and google.server.log == []


def test_disconnecting_a_mailbox_another_organisation_reads_keeps_its_push(google, login):
    from vani import orgs

    admin = login("admin")
    connect(admin, google)
    beta = orgs.create("Beta", slug="beta").id
    with tenancy.acting_for(beta):
        add_mailbox(google)
    page = admin.post(f"/dashboard/mailboxes/{mailbox_now().id}/gmail/disconnect", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    assert google.requests("POST", ME + "/stop") == [] and google.requests("POST", "/revoke") == []
    assert "another organisation reads this mailbox" in page
    assert mailbox_now() is None and mailbox_now(beta) is not None
