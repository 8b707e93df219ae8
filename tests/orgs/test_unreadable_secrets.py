"""A stored secret no configured key can decrypt (written under a key that is not configured)
fails alone: only its own provider's calls are refused, with 503 so that the provider retries;
the pages still work and say which secret it is; check-config reports it; set-secret and set-key
overwrite it; key rotation skips it and says so."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from tests.bookings import cal_booking
from tests.signing import cal_com_headers, calendly_headers, dumps
from vani import orgs, tenancy
from vani.extensions import db
from vani.models import ProviderCredential, RejectedCall, WebhookEvent, WebhookSubscription
from vani.orgs import secrets
from vani.orgs.provider_settings import config_for

LOST_KEY = Fernet.generate_key()  # the key the secret was written with: not configured
LOST_SECRET = "calendly-secret-written-under-a-lost-key"


def plant(org_id: int, provider: str = "calendly", name: str = "webhook_secret", value: str = LOST_SECRET) -> int:
    """Store a credential as a process holding only ``LOST_KEY`` would have."""
    row = ProviderCredential(org_id=org_id, provider=provider, name=name, value="placeholder")
    db.session.add(row)
    db.session.commit()
    row_id = row.id
    db.session.execute(text("UPDATE provider_credentials SET value = :v WHERE id = :id"),
                       {"v": Fernet(LOST_KEY).encrypt(value.encode()).decode(), "id": row_id})
    db.session.commit()
    db.session.expunge_all()
    secrets.forget_cached_secrets()
    return row_id


def raw_value(row_id: int) -> str:
    return db.session.execute(text("SELECT value FROM provider_credentials WHERE id = :id"), {"id": row_id}).scalar_one()


def body(n: int = 1) -> bytes:
    return dumps({"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
                  "payload": {"uri": f"https://api.calendly.com/scheduled_events/E/invitees/I{n}",
                              "email": f"a{n}@example.com"}})


def count(model, *where) -> int:
    with tenancy.everywhere():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def acme(app):
    org = orgs.create("Acme", slug="acme")
    found = SimpleNamespace(id=org.id, key=org.key)  # plain values: the tests empty the session
    with tenancy.acting_for(org.id):
        secrets.store_secret("cal_com", "acme-cal-com-secret")
    return found


def test_ingest_answers_503_for_that_provider_only_and_stores_nothing(app, client, acme):
    plant(acme.id)
    payload = body()
    lost = client.post(f"/api/webhooks/calendly/{acme.key}", data=payload, headers=calendly_headers(payload, LOST_SECRET))
    assert lost.status_code == 503 and lost.json["error"] == "secret_unreadable", lost.json
    assert "webhook_secret" in lost.json["detail"]
    assert count(WebhookEvent) == 0
    assert count(RejectedCall, RejectedCall.reason == "secret_unreadable", RejectedCall.org_id == acme.id) == 1
    # The same organisation's other provider, and the default organisation's Calendly, work.
    booking = dumps(cal_booking("BOOKING_CREATED", "b1"))
    other = client.post(f"/api/webhooks/cal-com/{acme.key}", data=booking,
                        headers=cal_com_headers(booking, "acme-cal-com-secret"))
    assert other.status_code == 200 and other.json["status"] == "accepted", other.json
    default = client.post("/api/webhooks/calendly", data=payload, headers=calendly_headers(payload))
    assert default.status_code == 200 and default.json["status"] == "accepted", default.json


def test_a_call_a_readable_secret_verifies_is_still_accepted(app, client):
    plant(orgs.default_id())  # unreadable stored secret; the environment's one still verifies
    payload = body()
    accepted = client.post("/api/webhooks/calendly", data=payload, headers=calendly_headers(payload))
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    refused = client.post("/api/webhooks/calendly", data=body(2), headers=calendly_headers(body(2), LOST_SECRET))
    assert refused.status_code == 503 and refused.json["error"] == "secret_unreadable"


def test_an_unreadable_secret_is_not_taken_for_no_secret(app, client):
    """Outside production a provider with no secret is accepted unverified: one that cannot be
    read must not open that door."""
    app.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = None
    plant(orgs.default_id())
    payload = body()
    r = client.post("/api/webhooks/calendly", data=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 503 and r.json["error"] == "secret_unreadable"
    assert count(WebhookEvent) == 0


def test_the_pages_work_and_the_organisation_page_names_the_secret(app, login):
    admin = login("admin")
    org_id = orgs.default_id()
    plant(org_id)
    plant(org_id, "kapso", "kapso_api_key", "kapso-key-written-under-a-lost-key")
    for path in ("/dashboard/", "/dashboard/rejected", "/dashboard/events"):
        page = admin.get(path)
        assert page.status_code == 200, path
        assert "secret unreadable" in page.get_data(as_text=True), path
    page = admin.get("/dashboard/organisation")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Unreadable secrets" in html
    assert "<strong>calendly</strong> webhook signing secret" in html
    assert "<strong>kapso</strong> KAPSO_API_KEY" in html
    stored = db.session.execute(select(ProviderCredential.updated_at).where(
        ProviderCredential.provider == "calendly")).scalar_one()
    assert f"{stored:%Y-%m-%d %H:%M}" in html  # since when


def test_check_config_reports_it_with_the_way_out(app, acme):
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["vani", "check-config"])
    assert "cannot be decrypted" not in clean.output
    plant(acme.id)
    result = runner.invoke(args=["vani", "check-config"])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "cannot be decrypted" in line)
    assert line.startswith("error")
    assert "organisation acme, calendly webhook_secret" in line
    assert "flask vani webhooks set-secret --org acme calendly SECRET" in line


def test_set_secret_overwrites_it(app, client, acme):
    row_id = plant(acme.id)
    result = app.test_cli_runner().invoke(args=["vani", "webhooks", "set-secret", "--org", "acme", "calendly",
                                                "a-brand-new-secret"])
    assert result.exit_code == 0, result.output
    assert raw_value(row_id) != Fernet(LOST_KEY).encrypt(b"x").decode()
    with tenancy.acting_for(acme.id):
        assert secrets.stored_credential("calendly").value == "a-brand-new-secret"
        assert secrets.stored_credential("calendly", secrets.PREVIOUS_NAME) is None  # nothing to keep
    assert secrets.unreadable_credentials(acme.id) == []
    payload = body()
    r = client.post(f"/api/webhooks/calendly/{acme.key}", data=payload,
                    headers=calendly_headers(payload, "a-brand-new-secret"))
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json


def test_an_unreadable_api_setting_counts_as_unset_and_set_key_overwrites_it(app, acme):
    plant(acme.id, "kapso", "kapso_api_key", "kapso-key-written-under-a-lost-key")
    assert config_for(acme.id)["KAPSO_API_KEY"] is None
    assert [u.label for u in secrets.unreadable_credentials(acme.id)] == ["KAPSO_API_KEY"]
    result = app.test_cli_runner().invoke(args=["vani", "webhooks", "set-key", "--org", "acme", "kapso",
                                                "KAPSO_API_KEY", "kapso-key-new"])
    assert result.exit_code == 0, result.output
    assert config_for(acme.id)["KAPSO_API_KEY"] == "kapso-key-new"
    assert secrets.unreadable_credentials(acme.id) == []


def test_rotation_skips_it_says_so_and_exits_1(app, api, acme, httpserver):
    created = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/hook"), "events": "*"})
    row_id = plant(acme.id)
    token = raw_value(row_id)
    old = app.config["VANI_ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    app.config["VANI_ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["vani", "rotate-encryption-key"])
    assert result.exit_code == 1
    assert "webhook_subscriptions.secret: 1 re-encrypted" in result.stdout
    assert "provider_credentials.value: 1 re-encrypted" in result.stdout  # acme's Cal.com secret
    assert (f"skipped provider_credentials.value row {row_id}: organisation acme, calendly webhook_secret"
            in result.stderr)
    assert "1 stored secret(s) could not be decrypted" in result.stderr
    assert raw_value(row_id) == token  # left as it was: restoring its key still recovers it
    app.config["VANI_ENCRYPTION_KEYS"] = new  # everything else reads with the new key alone
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, created.json["id"]).secret == created.json["secret"]
    secrets.forget_cached_secrets()
    assert secrets.stored_secrets("cal_com", acme.id) == ["acme-cal-com-secret"]
    app.config["VANI_ENCRYPTION_KEYS"] = f"{new},{LOST_KEY.decode()}"  # the lost key found again
    secrets.forget_cached_secrets()
    assert secrets.stored_secrets("calendly", acme.id) == [LOST_SECRET]


def test_rotation_with_unusable_keys_refuses_before_touching_anything(app):
    app.config["VANI_ENCRYPTION_KEYS"] = "not-a-key"
    result = app.test_cli_runner().invoke(args=["vani", "rotate-encryption-key"])
    assert result.exit_code == 1 and "not a Fernet key" in result.output


def test_an_unreadable_slack_url_breaks_no_page_and_is_given_again(app, login):
    from vani.notifications.routing import settings_for

    admin = login("admin")
    org_id = orgs.default_id()
    db.session.execute(text("UPDATE organisations SET slack_webhook_url = :v WHERE id = :id"),
                       {"v": Fernet(LOST_KEY).encrypt(b"https://hooks.slack.com/services/T/B/lost").decode(),
                        "id": org_id})
    db.session.commit()
    db.session.expunge_all()
    for path in ("/dashboard/", "/dashboard/rejected", "/dashboard/events"):
        assert admin.get(path).status_code == 200, path
    page = admin.get("/dashboard/organisation")
    assert page.status_code == 200
    assert "the <strong>Slack</strong> incoming-webhook URL" in page.get_data(as_text=True)
    assert settings_for(org_id)["SLACK_WEBHOOK_URL"] is None  # sends nothing to Slack, fails nothing else
    runner = app.test_cli_runner()
    found = runner.invoke(args=["vani", "check-config"])
    assert "organisations.slack_webhook_url row" in found.output and "set-notifications" in found.output
    assert f"row {org_id}: organisation default;" in found.output
    result = runner.invoke(args=["vani", "set-notifications", "--slack-url", "https://hooks.slack.com/services/T/B/new"])
    assert result.exit_code == 0 and "Slack set" in result.output, result.output
    db.session.expunge_all()
    assert settings_for(org_id)["SLACK_WEBHOOK_URL"] == "https://hooks.slack.com/services/T/B/new"


def test_register_replaces_a_subscription_whose_secret_cannot_be_read(app, httpserver):
    from tests.clients import run
    from tests.fakes.calendly import FakeCalendly

    app.config.update(CALENDLY_API_BASE=httpserver.url_for("").rstrip("/"), CALENDLY_API_TOKEN="cal-token")
    fake = FakeCalendly(httpserver)
    base = "https://new-tunnel.ngrok-free.app"  # as the registration tests use
    assert run(app, "register", "--url", base, "--provider", "calendly").exit_code == 0
    first_key = fake.calls("POST")[-1][3]["signing_key"]
    row_id = db.session.execute(select(ProviderCredential.id)).scalar_one()
    db.session.execute(text("UPDATE provider_credentials SET value = :v WHERE id = :id"),
                       {"v": Fernet(LOST_KEY).encrypt(first_key.encode()).decode(), "id": row_id})
    db.session.commit()
    db.session.expunge_all()
    result = run(app, "register", "--url", base, "--provider", "calendly")
    assert result.exit_code == 0, result.output
    new_key = fake.calls("POST")[-1][3]["signing_key"]
    assert new_key != first_key and len(fake.subs) == 1
    with tenancy.acting_for(orgs.default_id()):
        assert secrets.stored_credential("calendly").value == new_key
    assert secrets.unreadable_credentials(orgs.default_id()) == []
