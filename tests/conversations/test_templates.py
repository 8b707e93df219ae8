"""The approved templates an organisation starts conversations with: asked of its WhatsApp
provider once and kept in Redis for a while per organisation (a failure for less), asked every
time when Redis is down, and a clear error when there is no provider or no list to be had."""
from __future__ import annotations

import pytest

from tests.fakes.whatsapp_templates import (
    BUSINESS_ID,
    KAPSO_TEMPLATES_PATH,
    meta_template,
    serve_kapso_templates,
    use_kapso_templates,
)
from tests.network import dead_redis
from vani import orgs, tenancy
from vani.conversations import templates
from vani.conversations.starting import NoProvider
from vani.orgs.provider_settings import store_setting

PAGE = [meta_template("welcome", "Welcome {{1}}"), meta_template("intro", "Hi {{1}}", "es")]


def names(found) -> list[tuple[str, str]]:
    return [(t.name, t.language) for t in found]


def test_the_list_is_asked_once_then_kept(app, httpserver, redis_client):
    use_kapso_templates(app, httpserver)
    seen = serve_kapso_templates(httpserver, [PAGE])
    first = templates.approved()
    assert names(first) == [("intro", "es"), ("welcome", "en_US")]  # by name
    assert templates.approved() == first and len(seen) == 1  # the second answer asked nobody
    key = templates.KEY.format(org=tenancy.require(), provider="kapso")
    assert 0 < redis_client.ttl(key) <= templates.TTL
    templates.forget()  # a provider setting changed
    assert templates.approved() == first and len(seen) == 2
    runner = app.test_cli_runner()  # the command line storing a setting forgets the list too
    result = runner.invoke(args=["vani", "webhooks", "set-key", "kapso", "KAPSO_BUSINESS_ACCOUNT_ID", BUSINESS_ID])
    assert result.exit_code == 0, result.output
    assert redis_client.get(key) is None


def test_a_failure_is_kept_briefly_and_said(app, httpserver, redis_client):
    use_kapso_templates(app, httpserver)
    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_json(
        {"error": {"message": "Service temporarily unavailable", "code": 2}}, status=503)
    with pytest.raises(templates.Unavailable, match="kapso did not list the approved templates: Kapso answered 503"):
        templates.approved()
    with pytest.raises(templates.Unavailable) as again:
        templates.approved()
    assert len(httpserver.log) == 1 and again.value.status == 502 and again.value.code == "templates_unavailable"
    key = templates.KEY.format(org=tenancy.require(), provider="kapso")
    assert 0 < redis_client.ttl(key) <= templates.FAILED_TTL


def test_without_redis_every_call_asks_the_provider(app, httpserver):
    from vani.extensions import redis_ext

    use_kapso_templates(app, httpserver)
    seen = serve_kapso_templates(httpserver, [PAGE])
    saved = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        assert names(templates.approved()) == [("intro", "es"), ("welcome", "en_US")]
        redis_ext.reset()  # past the breaker's pause: Redis is tried again, and fails again
        assert names(templates.approved()) == [("intro", "es"), ("welcome", "en_US")]
    finally:
        app.extensions["vani_redis"] = saved
        redis_ext.reset()
    assert len(seen) == 2


def test_each_organisation_has_its_own_list(app, httpserver):
    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [PAGE])
    serve_kapso_templates(httpserver, [[meta_template("other_hello", "Hello")]], business_id="555")
    other = orgs.create("Other Sales", slug="other")
    with tenancy.acting_for(other.id):
        store_setting("kapso", "KAPSO_API_KEY", "other-key")
        store_setting("kapso", "KAPSO_BUSINESS_ACCOUNT_ID", "555")
        assert names(templates.approved()) == [("other_hello", "en_US")]
    assert names(templates.approved()) == [("intro", "es"), ("welcome", "en_US")]
    with tenancy.acting_for(other.id):
        assert names(templates.approved()) == [("other_hello", "en_US")]  # kept apart
    assert len(httpserver.log) == 2


def test_no_provider_and_no_business_account_are_conflicts(app, httpserver):
    with pytest.raises(NoProvider):
        templates.approved()
    app.config["KAPSO_API_KEY"] = "kapso-key"
    with pytest.raises(templates.NotConfigured, match="KAPSO_BUSINESS_ACCOUNT_ID") as caught:
        templates.approved()
    assert caught.value.status == 409 and httpserver.log == []


def test_a_chosen_template_takes_as_many_values_as_it_has(app, httpserver):
    from vani.errors import InvalidField

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template("visit", "See you {{1}} at {{2}}")]])
    assert templates.chosen("en_US:visit", ["Ana", " 3 pm ", "extra"]) == {
        "template": {"name": "visit", "language": "en_US", "variables": ["Ana", "3 pm"]}}
    with pytest.raises(InvalidField, match=r"visit takes 2 values: fill in \{\{2\}\}"):
        templates.chosen("en_US:visit", ["Ana"])
    # no longer listed: sent as given, trailing blanks dropped (the provider judges it)
    assert templates.chosen("es:gone", ["Ana", ""]) == {
        "template": {"name": "gone", "language": "es", "variables": ["Ana"]}}
    with pytest.raises(InvalidField, match="choose a template"):
        templates.chosen("", [])


def test_a_template_with_named_placeholders_is_filled_by_name(app, httpserver):
    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template("order_update", "Dear {{first_name}}, {{order}} is ready")]])
    assert templates.chosen("en_US:order_update", ["Ana", "#42"]) == {"template": {
        "name": "order_update", "language": "en_US", "variables": {"first_name": "Ana", "order": "#42"}}}


def test_header_and_button_values_are_asked_for_by_what_they_are(app, httpserver):
    from vani.errors import InvalidField

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template(
        "offer", "Hi {{1}}", header={"type": "HEADER", "format": "TEXT", "text": "For {{1}}"},
        buttons=[{"type": "URL", "text": "Open", "url": "https://shop.example.test/o/{{1}}"}])]])
    assert templates.chosen("en_US:offer", ["Acme", "Lena", "42"]) == {"template": {
        "name": "offer", "language": "en_US", "variables": {"header.1": "Acme", "1": "Lena", "button.0": "42"}}}
    with pytest.raises(InvalidField, match=r"offer takes 3 values: fill in header value for \{\{1\}\}"):
        templates.chosen("en_US:offer", ["", "Lena", "42"])
    with pytest.raises(InvalidField, match="fill in end of button 1's link"):
        templates.chosen("en_US:offer", ["Acme", "Lena", ""])
