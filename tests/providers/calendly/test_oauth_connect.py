""""Connect Calendly" (OAuth per organisation) against a fake Calendly on loopback: the sign-in
with state and PKCE, the token exchange, the organisation's webhook subscription, refresh with
rotating tokens, the subscription's state as Calendly reports it, repair, sync and disconnect."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text
from werkzeug import Response

from tests.paths import ROOT
from tests.signing import calendly_headers
from vani import crypto, orgs, tenancy
from vani.accounts import memberships
from vani.extensions import db
from vani.models import ConnectionState, ProviderConnection, WebhookEvent
from vani.models.base import utcnow

PUBLIC = "https://vani.example.com"
REDIRECT = PUBLIC + "/dashboard/calendly/callback"
CLIENT_ID, CLIENT_SECRET = "client-id", "client-secret"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted",
          "routing_form_submission.created"]
SAMPLE = (ROOT / "vani" / "samples" / "calendly" / "invitee.created.json").read_bytes()


def json_response(data, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(data), status, headers=headers or {}, content_type="application/json")


class FakeCalendly:
    """Calendly's OAuth host and API (one server for both), as far as Vani uses them: single-use
    refresh tokens, subscriptions kept in memory, and failures queued per path."""

    def __init__(self, server):
        self.server = server
        self.base = server.url_for("").rstrip("/")
        self.user, self.org = f"{self.base}/users/U1", f"{self.base}/organizations/O1"
        self.challenge: str | None = None  # the code_challenge of the sign-in in progress
        self.issued = 0
        self.live_access: set[str] = set()
        self.live_refresh: set[str] = set()
        self.subs: dict[str, dict] = {}
        self.made = 0
        self.fail: dict[str, list[Response]] = {}  # "METHOD /path" -> answers to give first
        server.expect_request("/oauth/token", method="POST").respond_with_handler(self.token)
        server.expect_request("/oauth/revoke", method="POST").respond_with_handler(self.revoke)
        server.expect_request("/users/me", method="GET").respond_with_handler(self.me)
        server.expect_request("/scheduled_events", method="GET").respond_with_handler(
            self.authorized(lambda r: json_response({"collection": [], "pagination": {"next_page_token": None}})))
        server.expect_request("/webhook_subscriptions", method="GET").respond_with_handler(self.authorized(self.list))
        server.expect_request("/webhook_subscriptions", method="POST").respond_with_handler(self.authorized(self.create))
        server.expect_request(re.compile(r"^/webhook_subscriptions/[^/]+$")).respond_with_handler(
            self.authorized(self.one))

    # -- helpers for tests ----------------------------------------------------------------
    def requests(self, method: str, path: str) -> list:
        return [r for r, _ in self.server.log if r.method == method and r.path == path]

    def add(self, url: str, state: str = "active") -> str:
        uri = f"{self.base}/webhook_subscriptions/PRE{len(self.subs) + 1}"
        self.subs[uri] = {"uri": uri, "callback_url": url, "state": state, "events": EVENTS, "scope": "organization",
                          "organization": self.org, "retry_started_at": None}
        return uri

    def queue(self, key: str, status: int, body: dict, headers=None) -> None:
        self.fail.setdefault(key, []).append(json_response(body, status, headers))

    # -- the fake's endpoints -----------------------------------------------------------------
    def failure(self, request):
        queued = self.fail.get(f"{request.method} {request.path}")
        return queued.pop(0) if queued else None

    def issue(self) -> Response:
        self.issued += 1
        access, refresh = f"at-{self.issued}", f"rt-{self.issued}"
        self.live_access.add(access)
        self.live_refresh.add(refresh)
        return json_response({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                              "expires_in": 7200, "created_at": 1_900_000_000, "scope": "default",
                              "owner": self.user, "organization": self.org})

    def token(self, request):
        if (queued := self.failure(request)) is not None:
            return queued
        if request.headers.get("Authorization") != BASIC:
            return json_response({"error": "invalid_client"}, 401)
        form = request.form
        if form.get("grant_type") == "authorization_code":
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if form.get("code") != "the-code" or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != self.challenge:
                return json_response({"error": "invalid_grant", "error_description": "bad code or verifier"}, 400)
            return self.issue()
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self.live_refresh:
            self.live_refresh.discard(form["refresh_token"])  # single use
            return self.issue()
        return json_response({"error": "invalid_grant", "error_description": "The provided authorization grant "
                              "is invalid, expired, revoked"}, 400)

    def revoke(self, request):
        if (queued := self.failure(request)) is not None:
            return queued
        self.live_access.discard(request.form.get("token"))
        self.live_refresh.discard(request.form.get("token"))
        return json_response({})

    def authorized(self, handler):
        def run(request):
            if (queued := self.failure(request)) is not None:
                return queued
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.live_access:
                return json_response({"title": "Unauthenticated", "message": "The access token is invalid"}, 401)
            return handler(request)

        return run

    def me(self, request):
        return self.authorized(lambda r: json_response({"resource": {
            "uri": self.user, "name": "Sam Seller", "email": "sam@example.com",
            "current_organization": self.org}}))(request)

    def list(self, request):
        items = [s for s in self.subs.values() if request.args.get("organization") == self.org]
        return json_response({"collection": items, "pagination": {"next_page": None, "next_page_token": None}})

    def create(self, request):
        body = request.get_json()
        if any(s["callback_url"] == body["url"] for s in self.subs.values()):
            return json_response({"title": "Already Exists", "message": "Hook with this url already exists"}, 409)
        self.made += 1
        uri = f"{self.base}/webhook_subscriptions/S{self.made}"
        self.subs[uri] = {"uri": uri, "callback_url": body["url"], "state": "active", "events": body["events"],
                          "scope": body["scope"], "organization": body["organization"], "retry_started_at": None}
        return json_response({"resource": self.subs[uri]}, 201)

    def one(self, request):
        uri = self.base + request.path
        if uri not in self.subs:
            return json_response({"title": "Resource Not Found", "message": "not found"}, 404)
        if request.method == "DELETE":
            del self.subs[uri]
            return Response(status=204)
        return json_response({"resource": self.subs[uri]})


@pytest.fixture
def fake(app, httpserver, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain HTTP on loopback
    base = httpserver.url_for("").rstrip("/")
    app.config.update(CALENDLY_AUTH_BASE=base, CALENDLY_API_BASE=base, CALENDLY_CLIENT_ID=CLIENT_ID,
                      CALENDLY_CLIENT_SECRET=CLIENT_SECRET, CALENDLY_REDIRECT_URI=REDIRECT, PUBLIC_URL=PUBLIC)
    return FakeCalendly(httpserver)


def start(client, fake) -> dict:
    """Press Connect Calendly; answers the authorize URL's query (the fake learns the challenge)."""
    r = client.post("/dashboard/calendly/connect", data={"csrf_token": client.csrf})
    assert r.status_code == 302, r.get_data(as_text=True)
    url = urlsplit(r.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == fake.base + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    fake.challenge = query.get("code_challenge")
    return query


def connect(client, fake) -> str:
    """The whole sign-in; answers the page after it."""
    query = start(client, fake)
    r = client.get(f"/dashboard/calendly/callback?code=the-code&state={query['state']}")
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboard/calendly"), r.get_data(as_text=True)
    return client.get("/dashboard/calendly").get_data(as_text=True)


def connection(org_id: int | None = None) -> ProviderConnection | None:
    db.session.expire_all()
    with tenancy.acting_for(org_id or tenancy.require()):
        return db.session.execute(select(ProviderConnection)).scalar_one_or_none()


def count_connections() -> int:
    return db.session.execute(select(func.count()).select_from(ProviderConnection)
                              .execution_options(unscoped=True)).scalar_one()


def created_subscriptions(fake) -> list[dict]:
    return [r.get_json() for r in fake.requests("POST", "/webhook_subscriptions")]


# -- 1 and 2: the sign-in --------------------------------------------------------------------

def test_connect_redirects_to_calendly_with_state_and_pkce(fake, login):
    client = login("admin")
    query = start(client, fake)
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == REDIRECT and query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 20 and len(query["code_challenge"]) == 43
    with client.session_transaction() as session:
        pending = session["calendly_oauth"]
    assert pending["state"] == query["state"] and pending["org_id"] == tenancy.require()
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]


def test_connect_without_the_oauth_app_says_what_to_set(fake, app, login):
    app.config["CALENDLY_CLIENT_SECRET"] = None
    client = login("admin")
    r = client.post("/dashboard/calendly/connect", data={"csrf_token": client.csrf}, follow_redirects=True)
    assert "CALENDLY_CLIENT_SECRET not set" in r.get_data(as_text=True)
    assert fake.server.log == []


@pytest.mark.parametrize("state", ["", "state=not-the-one"])
def test_a_callback_with_a_wrong_or_missing_state_is_refused(fake, login, state):
    client = login("admin")
    start(client, fake)
    r = client.get(f"/dashboard/calendly/callback?code=the-code&{state}")
    assert r.status_code == 400
    assert "does not match one started here" in r.get_data(as_text=True)
    assert count_connections() == 0 and fake.requests("POST", "/oauth/token") == []


def test_a_callback_is_used_once(fake, login):
    client = login("admin")
    query = start(client, fake)
    assert client.get(f"/dashboard/calendly/callback?code=the-code&state={query['state']}").status_code == 303
    again = client.get(f"/dashboard/calendly/callback?code=the-code&state={query['state']}")
    assert again.status_code == 400 and len(fake.requests("POST", "/oauth/token")) == 1


def test_a_callback_in_another_organisation_than_the_one_that_started_is_refused(fake, login):
    beta = orgs.create("Beta")
    client = login("admin")
    memberships.set_member(client.user, beta.id, "admin")
    db.session.commit()
    query = start(client, fake)  # started in the default organisation
    assert client.post("/dashboard/orgs/switch", data={"org": "beta", "csrf_token": client.csrf}).status_code == 303
    r = client.get(f"/dashboard/calendly/callback?code=the-code&state={query['state']}")
    assert r.status_code == 403 and "started for another organisation" in r.get_data(as_text=True)
    assert count_connections() == 0 and fake.requests("POST", "/oauth/token") == []


def test_calendly_declining_is_shown(fake, login):
    client = login("admin")
    start(client, fake)
    r = client.get("/dashboard/calendly/callback?error=access_denied&error_description=The+user+declined")
    assert r.status_code == 400 and "Calendly did not connect: The user declined" in r.get_data(as_text=True)
    assert count_connections() == 0


# -- 3 and 4: exchange, account, subscription, webhooks, tokens at rest ----------------------

def test_connecting_a_second_organisation_end_to_end(fake, app, login, client):
    beta = orgs.create("Beta")
    admin = login("admin", org_id=beta.id)
    page = connect(admin, fake)

    [exchange] = fake.requests("POST", "/oauth/token")
    assert exchange.headers["Authorization"] == BASIC
    assert exchange.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(exchange.form)
    assert set(form) == {"grant_type", "code", "redirect_uri", "code_verifier"}
    assert (form["grant_type"], form["code"], form["redirect_uri"]) == ("authorization_code", "the-code", REDIRECT)
    [me] = fake.requests("GET", "/users/me")
    assert me.headers["Authorization"] == "Bearer at-1"

    [created] = created_subscriptions(fake)
    target = f"{PUBLIC}/api/webhooks/calendly/{beta.key}"
    assert {k: v for k, v in created.items() if k != "signing_key"} == {
        "url": target, "events": EVENTS, "organization": fake.org, "scope": "organization"}
    assert len(created["signing_key"]) >= 32

    conn = connection(beta.id)
    assert (conn.account_name, conn.account_email, conn.account_uri) == ("Sam Seller", "sam@example.com", fake.user)
    assert conn.organization_uri == fake.org and conn.state == ConnectionState.CONNECTED
    assert (conn.access_token, conn.refresh_token) == ("at-1", "rt-1")
    assert timedelta(minutes=115) < conn.expires_at.replace(tzinfo=utcnow().tzinfo) - utcnow() <= timedelta(hours=2)
    assert conn.subscription_uri in fake.subs
    assert "Sam Seller" in page and "created the organization webhook subscription" in page
    assert connection() is None  # the default organisation has none

    # Calendly's calls signed with the generated key land in Beta at once.
    r = client.post(f"/api/webhooks/calendly/{beta.key}", data=SAMPLE,
                    headers=calendly_headers(SAMPLE, secret=created["signing_key"]))
    assert r.status_code == 200, r.get_data(as_text=True)
    with tenancy.acting_for(beta.id):
        [event] = db.session.execute(select(WebhookEvent)).scalars().all()
    assert event.provider == "calendly" and event.org_id == beta.id and event.verified
    forged = client.post(f"/api/webhooks/calendly/{beta.key}", data=SAMPLE,
                         headers=calendly_headers(SAMPLE, secret="not-the-key"))
    assert forged.status_code == 401


def test_the_default_organisation_subscribes_its_unkeyed_url(fake, login, client):
    admin = login("admin")
    assert "No Calendly event received yet" in connect(admin, fake)
    [created] = created_subscriptions(fake)
    assert created["url"] == f"{PUBLIC}/api/webhooks/calendly"
    r = client.post("/api/webhooks/calendly", data=SAMPLE, headers=calendly_headers(SAMPLE, secret=created["signing_key"]))
    assert r.status_code == 200
    event_id = r.get_json()["event_id"]
    page = admin.get("/dashboard/calendly").get_data(as_text=True)  # the last event received, linked
    assert f'href="/dashboard/events/{event_id}">invitee.created</a>' in page


def test_an_existing_subscription_to_the_url_is_replaced(fake, login):
    old = fake.add(f"{PUBLIC}/api/webhooks/calendly")
    connect(login("admin"), fake)
    [listed] = fake.requests("GET", "/webhook_subscriptions")
    assert dict(listed.args) == {"organization": fake.org, "scope": "organization", "count": "100"}
    assert [r.path for r in fake.requests("DELETE", urlsplit(old).path)] == [urlsplit(old).path]
    assert len(created_subscriptions(fake)) == 2  # refused (409), then made
    assert old not in fake.subs and connection().subscription_uri in fake.subs


def test_tokens_are_encrypted_at_rest(fake, login):
    connect(login("admin"), fake)
    row = db.session.execute(text("SELECT access_token, refresh_token FROM provider_connections")).one()
    assert "at-1" not in row[0] and "rt-1" not in row[1]
    assert (crypto.decrypt(row[0]), crypto.decrypt(row[1])) == ("at-1", "rt-1")
    from vani.orgs.key_rotation import encrypted_columns

    assert {("provider_connections", "access_token"), ("provider_connections", "refresh_token")} <= set(
        encrypted_columns())  # so rotate-encryption-key re-encrypts them


# -- 5: refresh --------------------------------------------------------------------------------

def expire_soon(minutes: int = 10) -> None:
    conn = connection()
    conn.expires_at = utcnow() + timedelta(minutes=minutes)
    db.session.commit()


def test_the_job_refreshes_before_expiry_and_rotates_both_tokens(fake, login):
    from vani.jobs import maintenance

    connect(login("admin"), fake)
    assert maintenance.refresh_calendly_connections()["refreshed"] == 0  # two hours left: nothing to do
    expire_soon()
    with tenancy.acting_for(None):  # as in a worker: no organisation in force
        counts = maintenance.refresh_calendly_connections()
    assert counts == {"connections": 1, "refreshed": 1, "failed": 0, "disabled": 0}
    refreshes = [r for r in fake.requests("POST", "/oauth/token") if r.form["grant_type"] == "refresh_token"]
    assert [dict(r.form) for r in refreshes] == [{"grant_type": "refresh_token", "refresh_token": "rt-1"}]
    assert refreshes[0].headers["Authorization"] == BASIC
    conn = connection()
    assert (conn.access_token, conn.refresh_token) == ("at-2", "rt-2")
    assert conn.expires_at.replace(tzinfo=utcnow().tzinfo) - utcnow() > timedelta(minutes=100)

    expire_soon()
    maintenance.refresh_calendly_connections()
    sent = [r.form["refresh_token"] for r in fake.requests("POST", "/oauth/token") if "refresh_token" in r.form]
    assert sent == ["rt-1", "rt-2"]  # the used one never again
    assert connection().refresh_token == "rt-3"
    assert any(e.func is maintenance.refresh_calendly_connections and e.interval == 600 for e in maintenance.CRON)


def test_a_refresh_reads_the_row_again_under_its_lock(fake, login):
    """Another worker refreshed meanwhile: the stale copy uses its tokens and sends nothing."""
    from vani.providers.calendly import oauth as calendly_oauth

    connect(login("admin"), fake)
    expire_soon()
    stale = connection()
    with db.engine.begin() as other:  # another worker's connection
        other.execute(ProviderConnection.__table__.update().values(
            access_token="at-other", refresh_token="rt-other", expires_at=utcnow() + timedelta(hours=2)))
    fresh = calendly_oauth.refresh(stale, 900)
    assert (fresh.access_token, fresh.refresh_token) == ("at-other", "rt-other")
    assert [r for r in fake.requests("POST", "/oauth/token") if "refresh_token" in r.form] == []


def test_a_token_about_to_expire_is_refreshed_before_it_is_used(fake, login):
    from vani.orgs.provider_settings import config_for

    connect(login("admin"), fake)
    expire_soon(minutes=2)
    assert config_for()["CALENDLY_API_TOKEN"] == "at-2"
    assert connection().refresh_token == "rt-2"


# -- 6: the subscription as Calendly reports it; repair ---------------------------------------

def test_a_disabled_subscription_is_shown_and_repaired(fake, login, api, client):
    admin = login("admin")
    connect(admin, fake)
    old = connection().subscription_uri
    fake.subs[old]["state"] = "disabled"
    fake.subs[old]["retry_started_at"] = "2030-01-01T10:00:00.000000Z"

    page = login("viewer").get("/dashboard/calendly").get_data(as_text=True)
    assert "Calendly disabled this subscription" in page and "Failing since" in page
    assert "Repair subscription" not in page  # viewers see it, admins repair it
    assert "Repair subscription" in admin.get("/dashboard/calendly").get_data(as_text=True)
    status = api.get("/api/v1/calendly/status").get_json()
    assert status["oauth"]["subscription"]["state"] == "disabled"
    assert status["oauth"]["subscription"]["retry_started_at"] == "2030-01-01T10:00:00Z"
    assert "at-1" not in json.dumps(status) and "rt-1" not in json.dumps(status)

    r = admin.post("/dashboard/calendly/repair", data={"csrf_token": admin.csrf}, follow_redirects=True)
    assert "deleted the old webhook subscription" in r.get_data(as_text=True)
    assert old not in fake.subs
    new = connection().subscription_uri
    assert fake.subs[new]["state"] == "active"
    key = created_subscriptions(fake)[-1]["signing_key"]
    assert client.post("/api/webhooks/calendly", data=SAMPLE,
                       headers=calendly_headers(SAMPLE, secret=key)).status_code == 200
    assert api.get("/api/v1/calendly/status").get_json()["oauth"]["subscription"]["state"] == "active"


def test_a_subscription_deleted_at_calendly_shows_as_missing(fake, login):
    admin = login("admin")
    connect(admin, fake)
    fake.subs.clear()
    page = admin.get("/dashboard/calendly").get_data(as_text=True)
    assert "Calendly has no webhook subscription for this organisation" in page
    assert connection().subscription_state == "missing"


# -- 7: disconnect ----------------------------------------------------------------------------

def test_disconnect_deletes_the_subscription_revokes_and_forgets(fake, login):
    admin = login("admin")
    connect(admin, fake)
    sub = connection().subscription_uri
    r = admin.post("/dashboard/calendly/disconnect", data={"csrf_token": admin.csrf}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert [r.path for r in fake.requests("DELETE", urlsplit(sub).path)] == [urlsplit(sub).path]
    revokes = fake.requests("POST", "/oauth/revoke")
    assert [dict(r.form) for r in revokes] == [
        {"token": "at-1", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        {"token": "rt-1", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]
    assert fake.live_access == set() and fake.live_refresh == set()
    assert count_connections() == 0
    assert "deleted the webhook subscription at Calendly; revoked the access token; revoked the refresh token; " \
           "removed the connection from Vani; forgot the signing key of that subscription" in page
    assert "Calendly is not connected" in page
    from vani.orgs.secrets import stored_credential

    assert stored_credential("calendly") is None  # Calendly no longer signs with it


def test_disconnect_when_calendly_fails_still_forgets_and_says_what_was_not_done(fake, login):
    admin = login("admin")
    connect(admin, fake)
    fake.queue("POST /oauth/revoke", 500, {"error": "server_error"})
    fake.queue("POST /oauth/revoke", 500, {"error": "server_error"})
    page = admin.post("/dashboard/calendly/disconnect", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    assert "Not done: revoking the access token failed" in page and "revoking the refresh token failed" in page
    assert "removed the connection from Vani" in page and count_connections() == 0


def test_the_api_disconnects(fake, login, api):
    connect(login("admin"), fake)
    r = api.delete("/api/v1/calendly/connection")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["failed"] == [] and "revoked the refresh token" in r.get_json()["done"]
    assert fake.subs == {} and len(fake.requests("POST", "/oauth/revoke")) == 2 and count_connections() == 0
    again = api.delete("/api/v1/calendly/connection")
    assert again.status_code == 404 and again.get_json()["error"] == "not_found"


def test_the_api_disconnect_needs_the_admin_scope(fake, login, client):
    from vani.accounts.tokens import create_token

    connect(login("admin"), fake)
    token = create_token("reader", ["read"])[1]
    r = client.delete("/api/v1/calendly/connection", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.get_json()["error"] == "insufficient_scope"
    assert count_connections() == 1


# -- 8: refused tokens and rate limits -------------------------------------------------------

def test_a_401_from_calendly_marks_the_connection_for_reconnecting(fake, login, api):
    admin = login("admin")
    connect(admin, fake)
    fake.live_access.clear()  # revoked in Calendly
    page = admin.get("/dashboard/calendly")
    assert page.status_code == 200
    text_ = page.get_data(as_text=True)
    assert "Calendly needs connecting again" in text_ and "Reconnect Calendly" in text_
    assert "401 Unauthorized" in text_
    status = api.get("/api/v1/calendly/status")
    assert status.status_code == 200 and status.get_json()["oauth"]["state"] == "needs_reconnect"
    sync = api.post("/api/v1/calendly/sync", json={"wait": True})
    assert sync.status_code == 409 and sync.get_json()["error"] == "needs_reconnect"
    connect(admin, fake)  # connecting again heals it
    assert connection().state == ConnectionState.CONNECTED and connection().last_error is None


def test_a_refused_refresh_marks_the_connection_for_reconnecting(fake, login):
    from vani.jobs import maintenance

    admin = login("admin")
    connect(admin, fake)
    fake.live_refresh.clear()  # e.g. used by a copy of Vani restored from a backup
    expire_soon()
    assert maintenance.refresh_calendly_connections()["failed"] == 1
    conn = connection()
    assert conn.state == ConnectionState.NEEDS_RECONNECT and "invalid_grant" in conn.last_error
    page = admin.get("/dashboard/calendly")
    assert page.status_code == 200 and "Calendly needs connecting again" in page.get_data(as_text=True)
    assert maintenance.refresh_calendly_connections()["connections"] == 0  # left for an admin


def test_a_429_is_retried_after_retry_after_or_reported(fake, login, monkeypatch):
    import time

    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    admin = login("admin")
    connect(admin, fake)
    fake.subs[connection().subscription_uri]["state"] = "disabled"
    fake.queue("POST /webhook_subscriptions", 429, {"title": "Too Many Requests"}, {"Retry-After": "7"})
    page = admin.post("/dashboard/calendly/repair", data={"csrf_token": admin.csrf},
                      follow_redirects=True).get_data(as_text=True)
    assert slept == [7.0] and "created the organization webhook subscription" in page
    assert len(created_subscriptions(fake)) == 3  # the first, the refused one, the retry

    path = urlsplit(connection().subscription_uri).path
    fake.queue(f"GET {path}", 429, {"title": "Too Many Requests"}, {"Retry-After": "30"})
    page = admin.get("/dashboard/calendly")  # the page never waits: it reports
    assert page.status_code == 200 and "rate limiting these requests (429)" in page.get_data(as_text=True)
    assert slept == [7.0] and connection().state == ConnectionState.CONNECTED


def test_a_failing_token_endpoint_is_reported_not_a_500(fake, login):
    client = login("admin")
    query = start(client, fake)
    fake.queue("POST /oauth/token", 503, {"title": "Service Unavailable"})
    r = client.get(f"/dashboard/calendly/callback?code=the-code&state={query['state']}", follow_redirects=True)
    assert r.status_code == 200
    assert "Connecting Calendly did not finish: Calendly refused the token request (503)" in r.get_data(as_text=True)
    assert count_connections() == 0


# -- 9: sync with the connection's token -----------------------------------------------------

def test_sync_now_uses_the_oauth_token(fake, app, login, api):
    app.config["CALENDLY_API_TOKEN"] = "personal-token"  # the connection wins over it
    admin = login("admin")
    connect(admin, fake)
    before = len(fake.requests("GET", "/users/me"))
    staff = login("staff")
    page = staff.post("/dashboard/calendly/sync", data={"csrf_token": staff.csrf}, follow_redirects=True)
    assert "Synced 0 scheduled event(s)" in page.get_data(as_text=True)
    [me] = fake.requests("GET", "/users/me")[before:]
    assert me.headers["Authorization"] == "Bearer at-1"
    [events] = fake.requests("GET", "/scheduled_events")
    assert events.headers["Authorization"] == "Bearer at-1" and events.args["organization"] == fake.org

    r = api.post("/api/v1/calendly/sync", json={"wait": True})
    assert r.status_code == 200 and r.get_json()["status"] == "done"
    assert fake.requests("GET", "/users/me")[-1].headers["Authorization"] == "Bearer at-1"

    fake.live_access.clear()  # Calendly stops accepting the token mid-use
    r = api.post("/api/v1/calendly/sync", json={"wait": True})
    assert r.status_code == 502 and r.get_json()["status"] == 401 and "401 Unauthorized" in r.get_json()["detail"]
    assert connection().state == ConnectionState.NEEDS_RECONNECT


def test_the_page_for_a_viewer_without_a_connection(fake, login):
    page = login("viewer").get("/dashboard/calendly").get_data(as_text=True)
    assert "Calendly is not connected" in page and "An admin of this organisation can connect it" in page
    assert "Connect Calendly</button>" not in page and 'href="/dashboard/calendly"' in page
