"""Kapso's approved templates: the Meta-style list of the WhatsApp Business Account, asked with
the API key for approved ones a hundred at a time, every page followed by its cursor, and only
approved templates kept (whatever the answer holds)."""
from __future__ import annotations

import pytest

from tests.fakes.whatsapp_templates import (
    BUSINESS_ID,
    KAPSO_KEY,
    KAPSO_TEMPLATES_PATH,
    meta_template,
    serve_kapso_templates,
    use_kapso_templates,
)
from vani import plugins, tenancy
from vani.orgs.provider_settings import config_for
from vani.plugins.messaging import Template, TemplateListError


def listed():
    return plugins.installed().get("kapso").messenger.templates(tenancy.require(), config_for())


def test_every_page_is_read_and_only_approved_templates_are_kept(app, httpserver):
    use_kapso_templates(app, httpserver)
    seen = serve_kapso_templates(httpserver, [
        [meta_template("intro", "Hi {{1}}, thanks for booking {{2}}.", "es"),
         meta_template("draft", "Not yet {{1}}", status="PENDING")],
        [meta_template("follow_up", "See you at {{2}}, {{1}}? {{10}}", category="UTILITY"),
         meta_template("refused", "No", status="REJECTED")],
        [{"name": "named", "language": "en", "status": "APPROVED", "category": "MARKETING",
          "components": [{"type": "BODY", "text": "Dear {{first_name}}, your {{order}} for {{first_name}}"}]}],
    ])
    assert listed() == [
        Template("intro", "es", "MARKETING", "Hi {{1}}, thanks for booking {{2}}.", ("1", "2")),
        Template("follow_up", "en_US", "UTILITY", "See you at {{2}}, {{1}}? {{10}}", ("1", "2", "10")),
        Template("named", "en", "MARKETING", "Dear {{first_name}}, your {{order}} for {{first_name}}",
                 ("first_name", "order")),
    ]
    assert [s["path"] for s in seen] == [KAPSO_TEMPLATES_PATH] * 3
    assert [s["args"] for s in seen] == [{"status": "APPROVED", "limit": "100"},
                                         {"status": "APPROVED", "limit": "100", "after": "cursor-1"},
                                         {"status": "APPROVED", "limit": "100", "after": "cursor-2"}]
    assert {s["key"] for s in seen} == {KAPSO_KEY}


def test_the_base_url_in_any_of_kapsos_forms_reaches_the_same_path(app, httpserver):
    use_kapso_templates(app, httpserver)
    app.config["KAPSO_API_BASE_URL"] = httpserver.url_for("/meta/whatsapp/v22.0")
    seen = serve_kapso_templates(httpserver, [[meta_template("intro", "Hi")]])
    assert [t.name for t in listed()] == ["intro"] and seen[0]["path"] == KAPSO_TEMPLATES_PATH


def test_a_cursor_without_next_is_the_last_page(app, httpserver):
    """Meta gives a cursor on the last page too; only ``paging.next`` says there is more."""
    use_kapso_templates(app, httpserver)
    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_json(
        {"data": [meta_template("intro", "Hi")], "paging": {"cursors": {"before": "b", "after": "a"}}})
    assert [t.name for t in listed()] == ["intro"] and len(httpserver.log) == 1


@pytest.mark.parametrize("answer, status, reason", [
    ({"error": {"message": "Invalid OAuth access token", "code": 190}}, 401, "Kapso answered 401: Invalid OAuth"),
    ({"error": {"message": "Service temporarily unavailable", "code": 2}}, 503, "Kapso answered 503: Service"),
    ({"templates": []}, 200, "not a list of templates"),
])
def test_a_refusal_says_what_kapso_said(app, httpserver, answer, status, reason):
    use_kapso_templates(app, httpserver)
    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_json(answer, status=status)
    with pytest.raises(TemplateListError, match=reason) as caught:
        listed()
    assert caught.value.configured is True


def test_without_the_business_account_nothing_is_asked(app, httpserver):
    use_kapso_templates(app, httpserver)
    app.config["KAPSO_BUSINESS_ACCOUNT_ID"] = None
    with pytest.raises(TemplateListError, match="KAPSO_BUSINESS_ACCOUNT_ID is not set") as caught:
        listed()
    assert caught.value.configured is False and httpserver.log == []


def test_a_stored_business_account_is_the_organisations_own(app, httpserver, db):
    """Stored on the Organisation page (encrypted), it is what the list is asked for."""
    from vani.orgs.provider_settings import configured_settings, store_setting

    use_kapso_templates(app, httpserver)
    app.config["KAPSO_BUSINESS_ACCOUNT_ID"] = "999"
    store_setting("kapso", "kapso_business_account_id", BUSINESS_ID)
    assert "KAPSO_BUSINESS_ACCOUNT_ID" in configured_settings()
    serve_kapso_templates(httpserver, [[meta_template("intro", "Hi")]])
    assert [t.name for t in listed()] == ["intro"]
    raw = db.session.execute(db.text("SELECT value FROM provider_credentials")).scalar_one()
    assert BUSINESS_ID not in str(raw)  # encrypted at rest


def test_a_list_that_does_not_come_is_given_up_on_in_listing_time(app, httpserver, monkeypatch):
    """The list is asked while a page is drawn: it waits the listing time, not the send timeout."""
    import threading
    import time

    from vani.plugins import messaging

    use_kapso_templates(app, httpserver)
    app.config["VANI_SEND_TIMEOUT_SECONDS"] = 10
    monkeypatch.setattr(messaging, "LIST_SECONDS", 0.3)
    release = threading.Event()

    def stall(request):
        release.wait(5)
        from werkzeug import Response

        return Response("{}", content_type="application/json")

    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_handler(stall)
    started = time.monotonic()
    try:
        with pytest.raises(TemplateListError, match="timed out"):
            listed()
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_header_and_button_values_are_listed_with_the_bodys(app, httpserver):
    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[
        meta_template("offer", "Hi {{1}}, your offer ends {{2}}", header={"type": "HEADER", "format": "IMAGE"},
                      buttons=[{"type": "QUICK_REPLY", "text": "Stop"},
                               {"type": "URL", "text": "Open", "url": "https://shop.example.test/o/{{1}}"},
                               {"type": "URL", "text": "Site", "url": "https://shop.example.test/"}]),
        meta_template("hello", "Good to meet you", header={"type": "HEADER", "format": "TEXT", "text": "Hi {{name}}"}),
    ]])
    assert [(t.name, t.variables) for t in listed()] == [
        ("offer", ("media.image", "1", "2", "button.1")), ("hello", ("header.name",))]
