"""Sign-in throttling: counted before the password is checked, per account from one address, per
address, and per account for the addresses that failed on it, with a bounded backoff instead of a
lock that no address can turn against another; the database keeps the count, so Redis plays no part."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select

from tests.clients import csrf_token_from, fresh_client
from tests.web.seed import dead_redis
from vani.extensions import db
from vani.models import LoginThrottle
from vani.accounts import signin_throttle as throttle


def attempt(client, email, password, addr="10.0.0.1"):
    token = csrf_token_from(client)
    return client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})


def time_passes(seconds: float) -> None:
    """Move every throttle back in time (as if ``seconds`` had passed)."""
    for row in db.session.execute(select(LoginThrottle)).scalars():
        row.allowed_at -= timedelta(seconds=seconds)
        row.updated_at -= timedelta(seconds=seconds)
    db.session.commit()


def test_an_account_waits_after_too_many_failures_with_a_growing_bounded_backoff(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_MAX_DELAY_SECONDS=300)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    for _ in range(3):
        r = attempt(client, "ad@example.com", "wrong", addr="10.0.0.1")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    # Even the right password waits now from that address, with a clear message.
    r = attempt(client, "ad@example.com", "password-123", addr="10.0.0.1")
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60
    assert "Too many failed sign-in attempts for this account" in r.get_data(as_text=True)
    time_passes(61)
    r = attempt(client, "ad@example.com", "wrong")  # one more try after the wait ...
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(client, "ad@example.com", "wrong")
    assert r.status_code == 429 and 115 <= int(r.headers["Retry-After"]) <= 120  # ... and the wait doubles
    for _ in range(6):  # never beyond the cap, however long it goes on
        time_passes(301)
        attempt(client, "ad@example.com", "wrong")
    assert int(attempt(client, "ad@example.com", "wrong").headers["Retry-After"]) <= 300
    time_passes(301)
    assert attempt(client, "ad@example.com", "password-123").status_code == 302  # never locked out for good
    make_user("viewer", email="vi@example.com")  # another account was never affected
    assert attempt(fresh_client(app), "vi@example.com", "password-123", addr="10.9.9.8").status_code == 302


def test_failures_from_one_address_never_keep_the_owner_out_from_another(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_MAX_PER_ADDRESS=100)
    make_user("admin", email="ad@example.com")
    attacker = fresh_client(app)
    statuses = [attempt(attacker, "ad@example.com", f"guess-{n}", addr="203.0.113.7").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]  # the attacker's address waits ...
    owner = fresh_client(app)
    r = attempt(owner, "ad@example.com", "password-123", addr="198.51.100.20")
    assert r.status_code == 302  # ... the owner, elsewhere, signs in at once
    assert owner.get("/dashboard/").status_code == 200
    r = attempt(attacker, "ad@example.com", "password-123", addr="203.0.113.7")
    assert r.status_code == 429 and "Too many failed sign-in attempts" in r.get_data(as_text=True)  # still waits
    # Wrong passwords from the owner's address are throttled on their own: it has now failed on
    # an account under attack, so its next try waits too, and a clean address still gets in.
    typo = fresh_client(app)
    r = attempt(typo, "ad@example.com", "typo", addr="198.51.100.21")
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(typo, "ad@example.com", "password-123", addr="198.51.100.21")
    assert r.status_code == 429 and "for this account from your address" in r.get_data(as_text=True)
    assert attempt(fresh_client(app), "ad@example.com", "password-123", addr="198.51.100.22").status_code == 302


def test_guesses_spread_over_addresses_get_one_try_each_once_the_account_is_hot(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_MAX_PER_ADDRESS=100)
    make_user("admin", email="ad@example.com")
    for n in range(4):  # four addresses, one guess each: every one is checked (none had failed)
        r = attempt(fresh_client(app), "ad@example.com", "wrong", addr=f"192.0.2.{n}")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    # Each has failed on an account with more failures than its allowance: a second try waits.
    for n in range(4):
        r = attempt(fresh_client(app), "ad@example.com", "wrong", addr=f"192.0.2.{n}")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert "Too many failed sign-in attempts for this account from your address." in r.get_data(as_text=True)
    time_passes(3600)  # a quiet hour: the streak is forgotten
    r = attempt(fresh_client(app), "ad@example.com", "password-123", addr="192.0.2.0")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"  # signed in


def test_parallel_guesses_from_one_address_cannot_pass_the_limit(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_MAX_PER_ADDRESS=1000)
    make_user("admin", email="ad@example.com")
    checked = []
    real = throttle.begin

    def counting(email, address, now=None):
        blocked = real(email, address, now)
        if blocked is None:
            checked.append(1)
        return blocked

    statuses = []
    barrier = threading.Barrier(12)

    def guess(i):
        with app.app_context():
            client = fresh_client(app)
            token = csrf_token_from(client)
            barrier.wait(10)
            r = client.post("/dashboard/login", environ_base={"REMOTE_ADDR": "10.1.0.1"},
                            data={"email": "ad@example.com", "password": f"guess-{i}", "csrf_token": token})
            statuses.append(r.status_code)
            db.session.remove()

    throttle.begin = counting
    try:
        threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        throttle.begin = real
    assert len(statuses) == 12
    assert len(checked) <= 3 and statuses.count(401) <= 3  # at most the allowance was checked
    assert statuses.count(429) >= 9


def test_an_address_waits_across_accounts(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=4, VANI_LOGIN_MAX_PER_ACCOUNT=100)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    for i in range(4):
        r = attempt(client, f"guess{i}@example.com", "wrong", addr="192.0.2.50")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(client, "ad@example.com", "password-123", addr="192.0.2.50")
    assert r.status_code == 429 and "for your address" in r.get_data(as_text=True)
    assert attempt(client, "ad@example.com", "password-123", addr="192.0.2.51").status_code == 302


def test_success_clears_its_streak_and_a_quiet_streak_is_forgotten(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ACCOUNT=3, VANI_LOGIN_WINDOW_SECONDS=600)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    attempt(client, "ad@example.com", "wrong")
    attempt(client, "ad@example.com", "wrong")
    assert attempt(client, "ad@example.com", "password-123").status_code == 302
    assert db.session.execute(select(LoginThrottle).where(LoginThrottle.key.startswith("pair:"))).first() is None
    assert db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key.startswith("account:"))).scalar() == 0
    other = fresh_client(app)
    attempt(other, "ad@example.com", "wrong")
    attempt(other, "ad@example.com", "wrong")
    time_passes(601)
    attempt(other, "ad@example.com", "wrong")  # the streak started over
    r = attempt(other, "ad@example.com", "wrong")
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)


def test_a_disabled_account_answers_like_a_wrong_password_in_the_same_time(app, make_user):
    make_user("viewer", email="off@example.com", active=False)
    make_user("viewer", email="on@example.com")
    client = fresh_client(app)

    def timed(email):
        start = time.perf_counter()
        r = attempt(client, email, "wrong-password", addr=f"10.2.{len(email)}.1")
        return r.status_code, time.perf_counter() - start

    disabled = [timed("off@example.com") for _ in range(3)]
    enabled = [timed("on@example.com") for _ in range(3)]
    assert {s for s, _ in disabled} == {s for s, _ in enabled} == {401}
    assert min(t for _, t in disabled) > 0.5 * min(t for _, t in enabled)  # the hash was checked too
    r = attempt(client, "off@example.com", "password-123", addr="10.3.0.1")
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)


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
    r = via_proxy("ad@example.com", "password-123", "198.51.100.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts for your address." in r.get_data(as_text=True)
    r = via_proxy("ad@example.com", "password-123", "198.51.100.2")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"  # signed in


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=2, VANI_LOGIN_MAX_PER_ACCOUNT=100, VANI_TRUST_PROXY=True)
    make_user("admin", email="ad@example.com")
    spoofed = forwarded_login(app, "203.0.113.50")
    spoofed("a@example.com", "x", "198.51.100.1")
    spoofed("b@example.com", "x", "198.51.100.2")  # a new fake address each time: the peer still counts
    r = spoofed("ad@example.com", "password-123", "198.51.100.3")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts for your address." in r.get_data(as_text=True)


def test_redis_down_changes_nothing(app, make_user):
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    saved = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        r = attempt(client, "ad@example.com", "wrong")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
        r = attempt(client, "ad@example.com", "password-123")
        assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"  # signed in
    finally:
        app.extensions["vani_redis"] = saved


def test_a_team_signing_in_from_one_address_is_never_slowed_by_its_own_sign_ins(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=3)
    for n in range(6):
        make_user("viewer", email=f"rep{n}@example.com")
    for n in range(6):  # twice the address's allowance, all right passwords
        r = attempt(fresh_client(app), f"rep{n}@example.com", "password-123", addr="10.1.1.1")
        assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"  # signed in
    for _ in range(3):  # wrong passwords still count: the address then waits
        r = attempt(fresh_client(app), "rep0@example.com", "wrong", addr="10.1.1.1")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(fresh_client(app), "rep1@example.com", "password-123", addr="10.1.1.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts for your address." in r.get_data(as_text=True)


def test_an_ipv6_caller_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4(app, make_user):
    app.config.update(VANI_LOGIN_MAX_PER_ADDRESS=4, VANI_LOGIN_MAX_PER_ACCOUNT=100)
    make_user("admin", email="ad@example.com")
    client = fresh_client(app)
    for i in range(4):  # every guess from a new address of the same /64
        r = attempt(client, f"guess{i}@example.com", "wrong", addr=f"2001:db8:1:2::{i + 1:x}")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(client, "ad@example.com", "password-123", addr="2001:db8:1:2:ffff::9")
    assert r.status_code == 429 and "for your address" in r.get_data(as_text=True)
    assert attempt(fresh_client(app), "ad@example.com", "password-123", addr="2001:db8:1:3::1"
                   ).status_code == 302  # the next /64
    for i in range(4):
        r = attempt(client, f"guess{i}@example.com", "wrong", addr="::ffff:192.0.2.60")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = attempt(client, "ad@example.com", "password-123", addr="192.0.2.60")
    assert r.status_code == 429 and "for your address" in r.get_data(as_text=True)
    keys = set(db.session.execute(select(LoginThrottle.key).where(LoginThrottle.key.like("address:%"))).scalars())
    assert keys == {"address:2001:db8:1:2::/64", "address:2001:db8:1:3::/64", "address:192.0.2.60"}


def test_the_daily_cleanup_forgets_counts_that_no_longer_slow_anyone(app, make_user):
    from vani.jobs.maintenance import daily_cleanup

    app.config.update(VANI_LOGIN_WINDOW_SECONDS=900, VANI_LOGIN_MAX_DELAY_SECONDS=900)
    for n in range(3):  # strangers trying addresses that have no account
        attempt(fresh_client(app), f"nobody{n}@example.com", "wrong", addr=f"198.51.100.{n}")
    time_passes(1801)
    attempt(fresh_client(app), "recent@example.com", "wrong", addr="198.51.100.200")
    old_enough_to_keep = db.session.execute(select(LoginThrottle.key)).scalars().all()
    assert len(old_enough_to_keep) == 3 * 3 + 3
    counts = daily_cleanup()
    assert counts["login_throttles"] == 9
    db.session.expire_all()
    left = db.session.execute(select(LoginThrottle)).scalars().all()
    assert {row.key for row in left} == set(throttle._keys("recent@example.com", "198.51.100.200").__dict__.values())
    # A row within the window plus the longest wait stays.
    time_passes(1799)
    assert daily_cleanup()["login_throttles"] == 0
