"""Sign-in, roles on every state-changing route, CSRF, session/token separation, sessions that end
when a password changes, and a ``next`` that never leaves the site."""
from __future__ import annotations

import pytest

from tests.clients import csrf_token_from, fresh_client
from tests.web.seed import every_row, seed_all, seed_mailbox, seed_reply


def text(r) -> str:
    return r.get_data(as_text=True)


def test_pages_need_sign_in(app):
    client = fresh_client(app)
    for path in ("/dashboard/", "/dashboard/events", "/dashboard/deliveries", "/dashboard/users", "/dashboard/stream"):
        r = client.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/dashboard/login?next="), path
    assert client.get("/").headers["Location"].endswith("/dashboard/")


def test_sign_in_and_out(app, make_user):
    make_user("viewer", email="vi@example.com")
    client = fresh_client(app)
    token = csrf_token_from(client)
    r = client.post("/dashboard/login", data={"email": "VI@example.com ", "password": "password-123",
                                              "csrf_token": token, "next": "/dashboard/events"})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/events"
    assert client.get("/dashboard/events").status_code == 200
    from vani.extensions import db
    from vani.models import User

    assert db.session.query(User).filter_by(email="vi@example.com").one().last_login_at is not None
    # Sign-out is a POST with the token.
    assert client.get("/dashboard/logout").status_code == 405
    r = client.post("/dashboard/logout", data={"csrf_token": csrf_token_from(client, "/dashboard/events")})
    assert r.status_code == 302
    assert client.get("/dashboard/events").status_code == 302


def test_wrong_password_and_unknown_user(app, make_user):
    make_user("viewer", email="vi@example.com")
    client = fresh_client(app)
    token = csrf_token_from(client)
    for email, password in (("vi@example.com", "wrong-password"), ("nobody@example.com", "password-123")):
        r = client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token})
        assert r.status_code == 401
        assert "Wrong email or password." in text(r)
    assert client.get("/dashboard/").status_code == 302


def test_disabled_user_cannot_sign_in_and_is_signed_out(app, make_user, login):
    make_user("staff", email="off@example.com", active=False)
    client = fresh_client(app)
    r = client.post("/dashboard/login", data={"email": "off@example.com", "password": "password-123",
                                              "csrf_token": csrf_token_from(client)})
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = client.get("/dashboard/")  # not signed in
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/login?next=%2Fdashboard%2F"
    staff = login("staff")
    from vani.extensions import db

    staff.user.active = False
    db.session.commit()
    r = staff.get("/dashboard/")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/login?next=%2Fdashboard%2F"


def test_next_never_leaves_the_site(app, make_user):
    make_user("viewer", email="vi@example.com")
    for target in ("https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com"):
        client = fresh_client(app)
        r = client.post("/dashboard/login", data={"email": "vi@example.com", "password": "password-123",
                                                  "csrf_token": csrf_token_from(client), "next": target})
        assert r.headers["Location"] == "/dashboard/", target


def test_login_without_csrf_token_is_rejected(app, make_user):
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    client.get("/dashboard/login")
    r = client.post("/dashboard/login", data={"email": "ad@example.com", "password": "password-123"})
    assert r.status_code == 400
    assert "CSRF" in text(r)
    assert client.get("/dashboard/").status_code == 302


def test_dashboard_ignores_bearer_tokens(client, api_token):
    r = client.get("/dashboard/events", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 302 and "/dashboard/login" in r.headers["Location"]


def test_api_ignores_the_session_cookie(login):
    client = login("admin")
    assert client.get("/dashboard/events").status_code == 200
    r = client.get("/api/v1/events")
    assert r.status_code == 401
    assert r.json["error"] == "unauthorized"


def test_security_headers(login):
    r = login("viewer").get("/dashboard/events")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_production_cookie_flags():
    from config import ProductionConfig

    cfg = ProductionConfig()
    assert cfg.SESSION_COOKIE_SECURE and cfg.SESSION_COOKIE_HTTPONLY and cfg.REMEMBER_COOKIE_SECURE
    assert cfg.SESSION_COOKIE_SAMESITE == "Lax"


# --- roles on every state-changing route -------------------------------------------------------

def _routes(ids: dict[str, int]) -> list[tuple[str, str, dict, str]]:
    """(name, url, form, minimum role) for every POST route of the dashboard."""
    sub, user = ids["subscription"], ids["user"]
    return [
        ("replay", f"/dashboard/events/{ids['event']}/replay", {}, "staff"),
        ("retry delivery", f"/dashboard/deliveries/{ids['delivery']}/retry", {}, "staff"),
        ("retry all failed", "/dashboard/deliveries/retry-failed", {"confirm": "1"}, "staff"),
        ("test subscription", f"/dashboard/subscriptions/{sub}/test", {}, "staff"),
        ("retry notification", f"/dashboard/notifications/{ids['notification']}/retry", {}, "staff"),
        ("create subscription", "/dashboard/subscriptions", {"url": "https://x.example.com/h", "events": "*"}, "admin"),
        ("edit subscription", f"/dashboard/subscriptions/{sub}",
         {"url": "https://y.example.com/h", "events": "meeting.*"}, "admin"),
        ("disable subscription", f"/dashboard/subscriptions/{sub}/active", {"active": "0"}, "admin"),
        ("rotate secret", f"/dashboard/subscriptions/{sub}/rotate", {}, "admin"),
        ("pause subscription", f"/dashboard/subscriptions/{sub}/pause", {"paused": "1"}, "admin"),
        ("backfill subscription", f"/dashboard/subscriptions/{sub}/backfill", {"since": "2026-01-01T00:00"}, "admin"),
        ("delete subscription", f"/dashboard/subscriptions/{sub}/delete", {"confirm": "1"}, "admin"),
        ("invite member", "/dashboard/invitations", {"email": "new@example.com", "role": "viewer"}, "admin"),
        ("revoke invitation", f"/dashboard/invitations/{ids['invitation']}/revoke", {}, "admin"),
        ("change user", f"/dashboard/users/{user}", {"role": "staff"}, "admin"),
        ("reset password", f"/dashboard/users/{user}/password", {"password": "another-pass-1"}, "admin"),
        ("remove member", f"/dashboard/users/{user}/remove", {}, "admin"),
        ("switch organisation", "/dashboard/orgs/switch", {"org": "default"}, "viewer"),
        ("organisation secret", "/dashboard/organisation/secrets", {"provider": "calendly", "secret": "long-secret-1"},
         "admin"),
        ("organisation key", "/dashboard/organisation/keys", {"setting": "CAL_COM_API_KEY", "value": "k"}, "admin"),
        ("organisation notifications", "/dashboard/organisation/notifications", {"routes": "*=webhook"}, "admin"),
        ("test notification channel", "/dashboard/organisation/notifications/test", {"channel": "webhook"}, "admin"),
        ("create token", "/dashboard/tokens", {"name": "crm", "scopes": "read"}, "admin"),
        ("revoke token", f"/dashboard/tokens/{ids['token']}/revoke", {}, "admin"),
        ("connect calendly", "/dashboard/calendly/connect", {}, "admin"),
        ("repair calendly subscription", "/dashboard/calendly/repair", {}, "admin"),
        ("sync calendly", "/dashboard/calendly/sync", {}, "staff"),
        ("disconnect calendly", "/dashboard/calendly/disconnect", {}, "admin"),
        ("reply", f"/dashboard/messages/{ids['conversation']}/reply", {"text": "On it", "nonce": "nonce-123456"},
         "staff"),
        ("retry reply", f"/dashboard/messages/{ids['conversation']}/messages/{ids['reply']}/retry", {}, "staff"),
        ("assign conversation", f"/dashboard/messages/{ids['conversation']}/assign", {"assignee": "me"}, "staff"),
        ("create auto-reply", "/dashboard/autoreplies",
         {"name": "Help", "trigger": "keyword", "match": "help", "reply_text": "Hi!", "active": "on"}, "admin"),
        ("change auto-reply", f"/dashboard/autoreplies/{ids['rule']}/change", {"action": "toggle"}, "admin"),
        ("add IMAP mailbox", "/dashboard/mailboxes/imap",
         {"host": "imap.example.com", "user": "ops@example.com", "password": "pw-123456"}, "admin"),
        ("sync mailbox", f"/dashboard/mailboxes/{ids['mailbox']}/sync", {}, "staff"),
        ("remove mailbox", f"/dashboard/mailboxes/{ids['mailbox']}/remove", {}, "admin"),
        ("set prospect owner", f"/dashboard/prospects/{ids['prospect']}/owner", {"owner": "me"}, "staff"),
        ("create prospect", "/dashboard/prospects/new", {"email": "new@prospect.test"}, "staff"),
        ("edit prospect", f"/dashboard/prospects/{ids['prospect']}/edit", {"name": "Renamed"}, "staff"),
        ("add note", f"/dashboard/prospects/{ids['prospect']}/notes", {"body": "Call back Monday"}, "staff"),
        ("move stage", f"/dashboard/prospects/{ids['prospect']}/stage", {"stage": "paid"}, "staff"),
        ("start conversation", f"/dashboard/prospects/{ids['new_prospect']}/conversations",
         {"template_name": "intro", "nonce": "nonce-123456"}, "staff"),
        ("organisation messaging", "/dashboard/organisation/messaging", {"mark_read_on_arrival": "on"}, "admin"),
        ("disconnect Gmail mailbox", f"/dashboard/mailboxes/{ids['mailbox']}/gmail/disconnect", {}, "admin"),
    ]


PLACEHOLDER_IDS = dict.fromkeys(("event", "delivery", "subscription", "notification", "user", "token", "conversation",
                                 "reply", "rule", "mailbox", "prospect", "new_prospect", "invitation"), 1)
ROUTE_NAMES = [r[0] for r in _routes(PLACEHOLDER_IDS)]
RANK = {"viewer": 0, "staff": 1, "admin": 2}
# Allowed, with nothing to change in these rows: no Calendly connection (connecting sends the admin to
# Calendly first), and the mailbox is an IMAP one.
NOTHING_TO_CHANGE = {"connect calendly", "repair calendly subscription", "sync calendly", "disconnect calendly",
                     "disconnect Gmail mailbox", "test notification channel"}


@pytest.fixture
def ids(app, make_user) -> dict[str, int]:
    from vani.accounts.invitations import invite
    from vani.accounts.tokens import create_token
    from vani.prospects import editing

    data = seed_all()
    app.config["KAPSO_API_KEY"] = "kapso-key"  # a WhatsApp provider to start conversations through
    new_prospect = editing.create({"phone": "+15550100099"}, editing.Actor("seed", "dashboard"))
    target = make_user("viewer", email="target@example.com")
    reply, rule = seed_reply(data["conversation"])
    return {"conversation": data["conversation"].id, "reply": reply.id, "rule": rule.id, "mailbox": seed_mailbox().id,
            "prospect": data["prospect"].id, "new_prospect": new_prospect.id, "event": data["events"]["failed"].id, "delivery": data["failed"].id,
            "subscription": data["subscription"].id, "notification": data["failed_notification"].id,
            "user": target.id,
            "token": create_token("target", ["read"])[0].id,
            "invitation": invite("invited@example.com", "viewer", make_user("admin", email="inviter@example.com")
                                 ).invitation.id}


@pytest.mark.parametrize("role", ["viewer", "staff", "admin"])
@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_role_on_each_state_changing_route(ids, login, role, name):
    _, url, form, needed = next(r for r in _routes(ids) if r[0] == name)
    client = login(role)
    before = every_row()
    r = client.post(url, data={**form, "csrf_token": client.csrf})
    if RANK[role] >= RANK[needed]:
        assert r.status_code in (200, 201, 302, 303), (name, role, r.status_code, text(r)[:500])
        assert (every_row() != before) is (name not in NOTHING_TO_CHANGE), name
    else:
        assert r.status_code == 403, (name, role, r.status_code)
        assert f"needs the {needed} role" in text(r)
        assert every_row() == before, name  # refused: nothing changed


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_each_state_changing_route_rejects_a_missing_csrf_token(ids, login, name):
    _, url, form, _ = next(r for r in _routes(ids) if r[0] == name)
    client = login("admin")
    before = every_row()
    r = client.post(url, data=form)
    assert r.status_code == 400, (name, r.status_code)
    assert "CSRF" in text(r)
    r = client.post(url, data={**form, "csrf_token": "forged"})
    assert r.status_code == 400, name
    assert every_row() == before, name  # refused: nothing changed


def test_every_post_route_is_covered(app):
    """A new state-changing dashboard route must be added to the table above."""
    import re

    rules = {re.sub(r"<int:\w+>", "1", r.rule) for r in app.url_map.iter_rules()
             if r.rule.startswith("/dashboard/") and "POST" in (r.methods or ())}
    table = {url for _, url, _, _ in _routes(PLACEHOLDER_IDS)}
    # Creating an organisation is for superusers, whatever their role: see orgs/test_organisations.py. Invitations
    # are answered by the invited, whatever their role: see accounts/test_invitations.py.
    answers = {"/dashboard/join/<token>", "/dashboard/join/<token>/accept", "/dashboard/join/<token>/decline"}
    assert rules - {"/dashboard/login", "/dashboard/logout", "/dashboard/orgs"} - answers == table


def _sign_in(app, email: str, password: str = "password-123"):
    client = fresh_client(app)
    r = client.post("/dashboard/login", data={"email": email, "password": password,
                                              "csrf_token": csrf_token_from(client)})
    assert r.status_code == 302
    return client


def test_changing_a_password_ends_the_other_sessions_of_that_user(app, make_user):
    make_user("admin", email="boss@example.com")
    make_user("staff", email="ops@example.com")
    ops_laptop, ops_phone = _sign_in(app, "ops@example.com"), _sign_in(app, "ops@example.com")
    boss = _sign_in(app, "boss@example.com")
    assert ops_phone.get("/dashboard/events").status_code == 200
    from vani.extensions import db
    from vani.models import User

    ops = db.session.query(User).filter_by(email="ops@example.com").one()
    r = boss.post(f"/dashboard/users/{ops.id}/password",
                  data={"password": "a-new-password", "csrf_token": csrf_token_from(boss, "/dashboard/users")})
    assert r.status_code == 302
    for client in (ops_laptop, ops_phone):  # a stolen cookie stops working too
        r = client.get("/dashboard/events")
        assert r.status_code == 302 and "/dashboard/login" in r.headers["Location"]
    assert _sign_in(app, "ops@example.com", "a-new-password").get("/dashboard/events").status_code == 200
    # An admin changing their own password stays signed in where they did it.
    boss_id = db.session.query(User).filter_by(email="boss@example.com").one().id
    r = boss.post(f"/dashboard/users/{boss_id}/password",
                  data={"password": "boss-new-password", "csrf_token": csrf_token_from(boss, "/dashboard/users")})
    assert r.status_code == 302 and boss.get("/dashboard/users").status_code == 200


def test_login_with_next_on_a_tab_or_backslash_trick_stays_on_the_site(app, make_user):
    make_user("viewer", email="vi@example.com")
    for target in ("/\t/evil.example.com", "/\\\\evil.example.com", "\\/evil.example.com", "javascript:alert(1)"):
        client = fresh_client(app)
        r = client.post("/dashboard/login", data={"email": "vi@example.com", "password": "password-123",
                                                  "csrf_token": csrf_token_from(client), "next": target})
        location = r.headers["Location"]
        assert location.startswith("/") and not location.startswith("//") and "evil" not in location, target
