"""``flask vani`` core commands: create-user, create-token, replay, sweep."""
from __future__ import annotations

from sqlalchemy import select

from tests import bookings as bs
from tests.bookings import calendly, invitee_uri
from tests.signing import post_calendly
from vani.accounts import memberships
from vani import orgs
from vani.extensions import db
from vani.models import OutboundEvent, User


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["vani", *args])
    db.session.expire_all()
    return result


def test_create_user_then_reset_password_and_role(app):
    result = run(app, "create-user", "Boss@Example.test", "--password", "long-enough-1")
    assert result.exit_code == 0, result.output
    assert "created boss@example.test: admin of default" in result.output
    user = db.session.execute(select(User).where(User.email == "boss@example.test")).scalar_one()
    org_id = orgs.default_id()
    assert memberships.role_of(user.id, org_id) == "admin" and user.check_password("long-enough-1")
    result = run(app, "create-user", "boss@example.test", "--password", "another-pass-2", "--role", "viewer")
    assert result.exit_code == 0 and "updated boss@example.test: viewer of default" in result.output
    db.session.expire_all()
    user = db.session.execute(select(User).where(User.email == "boss@example.test")).scalar_one()
    assert memberships.role_of(user.id, org_id) == "viewer"
    assert user.check_password("another-pass-2") and not user.check_password("long-enough-1")
    assert bs.count(User) == 1 and not user.is_superuser


def test_create_user_rejects_a_short_password(app):
    result = run(app, "create-user", "x@example.test", "--password", "short")
    assert result.exit_code != 0 and "8 characters" in result.output
    assert bs.count(User) == 0


def test_create_user_checks_the_email_as_the_dashboard_does(app):
    result = run(app, "create-user", "not-an-address", "--password", "long-enough-1")
    assert result.exit_code != 0 and "Enter a valid email address." in result.output
    result = run(app, "create-user", "@example.test", "--password", "long-enough-1")
    assert result.exit_code != 0
    assert bs.count(User) == 0


def test_create_user_without_password_generates_one(app):
    result = run(app, "create-user", "gen@example.test")
    assert result.exit_code == 0
    generated = result.output.split("generated password: ")[1].split()[0]
    user = db.session.execute(select(User).where(User.email == "gen@example.test")).scalar_one()
    assert user.check_password(generated)


def test_create_token_prints_a_working_token_once(app, client):
    result = run(app, "create-token", "crm-sync")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("vani_")
    r = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json == {"data": [], "next_cursor": None}
    from vani.models import ApiToken

    row = db.session.execute(select(ApiToken)).scalar_one()
    assert row.name == "crm-sync" and token not in (row.token_hash, row.prefix)  # stored hashed


def test_replay_processes_again_without_duplicates(app, client, run_worker):
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    run_worker()
    outbox = bs.outbox_keys()
    result = run(app, "replay", str(event_id))
    assert result.exit_code == 0, result.output
    assert f"event {event_id}: processed" in result.output
    assert bs.event(event_id).attempts == 2
    assert bs.outbox_keys() == outbox and bs.count(OutboundEvent) == 2


def test_replay_reports_an_unknown_event(app):
    result = run(app, "replay", "4242")
    assert result.exit_code != 0 and "no event 4242" in result.output


def test_replay_shows_the_ignore_reason(app, client, run_worker):
    event_id = post_calendly(client, {"event": "event_type.updated", "created_at": "2026-01-01T00:00:00Z",
                                      "payload": {"uri": "https://api.calendly.com/event_types/1"}}).json["event_id"]
    run_worker()
    result = run(app, "replay", str(event_id))
    assert "ignored" in result.output and "event_type.updated" in result.output


def test_sweep_wakes_the_lanes_with_stored_work(app, client, run_worker, redis_client):
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    redis_client.flushdb()  # as if Redis had been down when it arrived
    result = run(app, "sweep")
    assert result.exit_code == 0 and "events: woken" in result.output, result.output
    assert "deliveries: idle" in result.output
    run_worker()
    assert bs.event(event_id).status == "processed"
    assert bs.meeting("calendly", invitee_uri(1)) is not None
    assert "events: idle" in run(app, "sweep").output
