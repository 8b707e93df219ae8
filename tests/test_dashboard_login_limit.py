"""Sign-in attempts are limited per account and per address, counted in Redis with an expiry."""
from __future__ import annotations

from tests.conftest import csrf_token_from, fresh_client
from tests.dashboard_seed import dead_redis


def attempt(client, email, password, addr="10.0.0.1"):
    token = csrf_token_from(client)
    return client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})


def test_account_is_blocked_after_too_many_failures(app, make_user, redis_client):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_WINDOW_SECONDS=600)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    for i in range(3):
        assert attempt(client, "ad@example.com", "wrong", addr=f"10.0.0.{i}").status_code == 401
    # Even the right password is refused now, from any address, with a clear message.
    r = attempt(client, "ad@example.com", "password-123", addr="10.9.9.9")
    assert r.status_code == 429
    body = r.get_data(as_text=True)
    assert "Too many failed sign-in attempts for this account" in body and "10 minutes" in body
    assert 0 < int(r.headers["Retry-After"]) <= 600
    keys = redis_client.keys("vani:login:account:*")
    assert len(keys) == 1 and 0 < redis_client.ttl(keys[0]) <= 600
    assert client.get("/dashboard/").status_code == 302
    # Another account is not affected.
    make_user("viewer", email="vi@example.com")
    assert attempt(client, "vi@example.com", "password-123", addr="10.9.9.8").status_code == 302


def test_address_is_blocked_across_accounts(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=4, VANI_LOGIN_MAX_PER_ACCOUNT=100)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    for i in range(4):
        assert attempt(client, f"guess{i}@example.com", "wrong", addr="192.0.2.50").status_code == 401
    r = attempt(client, "ad@example.com", "password-123", addr="192.0.2.50")
    assert r.status_code == 429
    assert "for your address" in r.get_data(as_text=True)
    assert attempt(client, "ad@example.com", "password-123", addr="192.0.2.51").status_code == 302


def test_success_clears_the_account_counter(app, make_user, redis_client):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    attempt(client, "ad@example.com", "wrong")
    attempt(client, "ad@example.com", "wrong")
    assert attempt(client, "ad@example.com", "password-123").status_code == 302
    assert redis_client.keys("vani:login:account:*") == []
    other = fresh_client(app)
    attempt(other, "ad@example.com", "wrong")
    attempt(other, "ad@example.com", "wrong")
    assert attempt(other, "ad@example.com", "password-123").status_code == 302


def test_block_expires_with_the_window(app, make_user, redis_client):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=1)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    attempt(client, "ad@example.com", "wrong")
    assert attempt(client, "ad@example.com", "password-123").status_code == 429
    for key in redis_client.keys("vani:login:*"):
        redis_client.delete(key)  # what the expiry does when the window ends
    assert attempt(client, "ad@example.com", "password-123").status_code == 302


def forwarded_login(app, peer: str):
    """A login attempt from ``peer`` carrying ``X-Forwarded-For: forwarded``."""
    client = fresh_client(app)

    def attempt_via(email, password, forwarded):
        token = csrf_token_from(client)
        return client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token},
                           headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": peer})

    return attempt_via


def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=2, VANI_LOGIN_MAX_PER_ACCOUNT=100, VANI_TRUST_PROXY=True,
                      VANI_TRUSTED_PROXIES="10.0.0.0/8")
    make_user("admin", email="ad@example.com")
    via_proxy = forwarded_login(app, "10.0.0.2")
    via_proxy("a@example.com", "x", "198.51.100.1")
    via_proxy("b@example.com", "x", "198.51.100.1")
    assert via_proxy("ad@example.com", "password-123", "198.51.100.1").status_code == 429
    assert via_proxy("ad@example.com", "password-123", "198.51.100.2").status_code == 302


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=2, VANI_LOGIN_MAX_PER_ACCOUNT=100, VANI_TRUST_PROXY=True)
    make_user("admin", email="ad@example.com")
    spoofed = forwarded_login(app, "203.0.113.50")
    spoofed("a@example.com", "x", "198.51.100.1")
    spoofed("b@example.com", "x", "198.51.100.2")  # a new fake address each time: the peer still counts
    assert spoofed("ad@example.com", "password-123", "198.51.100.3").status_code == 429


def test_redis_down_does_not_lock_everyone_out(app, make_user):
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    token = csrf_token_from(client)
    saved = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        r = client.post("/dashboard/login", data={"email": "ad@example.com", "password": "password-123",
                                                  "csrf_token": token})
    finally:
        app.extensions["vani_redis"] = saved
    assert r.status_code == 302
