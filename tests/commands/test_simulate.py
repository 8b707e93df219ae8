"""`flask vani webhooks simulate`: bundled samples, signed like the provider, sent to the app on loopback."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from vani import samples
from vani.models import EventStatus, Meeting, RejectedCall, WebhookEvent
from vani.plugins.contract import RequestData
from vani.providers.registry import all_providers, get_provider
from vani.registration.base import handled_events

SIGNED_PROVIDERS = ("calendly", "cal_com")


def simulate(app, *args):
    return app.test_cli_runner().invoke(args=["vani", "webhooks", "simulate", *args])


def count(db, model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.parametrize("provider_name", SIGNED_PROVIDERS)
def test_every_handled_event_has_a_sample(provider_name):
    handled = handled_events(get_provider(provider_name))
    assert handled, "the mapper lists its handlers"
    assert set(handled) <= set(samples.events(provider_name))


@pytest.mark.parametrize("provider_name", [p.name for p in all_providers() if samples.events(p.name)])
def test_samples_parse_like_real_calls(provider_name):
    provider = get_provider(provider_name)
    for event in samples.events(provider_name):
        sample = samples.load(provider_name, event)
        form = {}
        if sample.content_type.endswith("urlencoded"):
            from urllib.parse import parse_qsl

            form = dict(parse_qsl(sample.body.decode()))
        items = provider.parse(RequestData(sample.body, sample.headers, "http://x/", form))
        assert len(items) == 1 and items[0].event_type == event  # samples are named after their event


@pytest.mark.parametrize("provider_name,cli_name", [("calendly", "calendly"), ("cal_com", "cal-com"),
                                                    ("kapso", "kapso"), ("twilio", "twilio")])
def test_each_sample_is_accepted_and_mapped(app, db, live_server, run_worker, provider_name, cli_name):
    if provider_name not in {p.name for p in all_providers()}:
        pytest.skip(f"the {provider_name} provider is not installed")
    for event in samples.events(provider_name):
        result = simulate(app, cli_name, event, "--url", live_server)
        assert result.exit_code == 0, result.output
        assert "200 OK" in result.output, result.output
    run_worker()
    events = list(db.session.execute(select(WebhookEvent).where(WebhookEvent.provider == provider_name)).scalars())
    assert sorted(e.event_type for e in events) == samples.events(provider_name)
    assert all(e.verified for e in events)
    # Cal Video no-shows name only a booking id: sent before their booking they are ignored, saying so.
    unmapped = [(e.event_type, e.outcome) for e in events if e.status != EventStatus.PROCESSED]
    assert [u for u in unmapped if not (u[1] or "").startswith("no meeting is known for Cal.com booking")] == []
    if provider_name in SIGNED_PROVIDERS:
        assert count(db, Meeting, Meeting.provider == provider_name) >= 1


def test_sending_twice_is_a_duplicate(app, live_server):
    assert '"accepted"' in simulate(app, "calendly", "invitee.created", "--url", live_server).output
    assert '"duplicate"' in simulate(app, "calendly", "invitee.created", "--url", live_server).output


def test_bad_signature_is_refused(app, db, live_server):
    result = simulate(app, "cal-com", "BOOKING_CREATED", "--url", live_server, "--bad-signature")
    assert result.exit_code == 0, result.output  # the refusal is what was asked for
    assert "401 UNAUTHORIZED" in result.output and "invalid_signature" in result.output
    assert count(db, RejectedCall) == 1 and count(db, WebhookEvent) == 0


def test_bad_signature_without_a_secret_is_explained(app, db, live_server):
    app.config["CAL_COM_WEBHOOK_SECRET"] = None
    result = simulate(app, "cal-com", "BOOKING_CREATED", "--url", live_server, "--bad-signature")
    assert result.exit_code == 1 and "200 OK" in result.output
    assert "it has no Cal.com secret (CAL_COM_WEBHOOK_SECRET), so it cannot check signatures" in result.output
    assert count(db, WebhookEvent, WebhookEvent.verified.is_(False)) == 1


def test_signature_secret_comes_from_vanis_stored_credential(app, db, live_server):
    from vani.models import ProviderCredential

    app.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = None
    db.session.add(ProviderCredential(provider="calendly", name="webhook_secret", value="stored-key"))
    db.session.commit()
    result = simulate(app, "calendly", "invitee.canceled", "--url", live_server)
    assert result.exit_code == 0 and '"accepted"' in result.output
    assert db.session.execute(select(WebhookEvent)).scalar_one().verified is True


def test_unknown_event_and_listing(app):
    result = simulate(app, "calendly", "invitee.exploded")
    assert result.exit_code == 2 and "invitee.created" in result.output
    listing = simulate(app, "cal-com")
    assert listing.exit_code == 0 and "BOOKING_CREATED" in listing.output
    assert simulate(app, "nope", "x").exit_code == 2


def test_unreachable_server(app):
    result = simulate(app, "calendly", "invitee.created", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "could not reach" in result.output and "Is Vani running there?" in result.output


def test_url_signed_calls_use_public_url_when_set(app, db, live_server):
    if "twilio" not in {p.name for p in all_providers()}:
        pytest.skip("the twilio provider is not installed")
    app.config["PUBLIC_URL"] = "https://vani-dev.ngrok-free.app"  # Vani checks Twilio's signature on this URL
    result = simulate(app, "twilio", "whatsapp.message.received", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert count(db, WebhookEvent) == 1 and count(db, RejectedCall) == 0
