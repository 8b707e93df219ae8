"""Twilio's approved templates: the Content API's ``ContentAndApprovals`` through the official
library over the egress, with the account's credentials, every page followed, and only contents
WhatsApp approved kept, named by the Content SID a send uses."""
from __future__ import annotations

import base64

import pytest

from tests.fakes.whatsapp_templates import (
    CONTENT_PATH,
    TWILIO_SID,
    TWILIO_TOKEN,
    content,
    serve_twilio_contents,
    use_twilio_templates,
)
from vani import plugins, tenancy
from vani.orgs.provider_settings import config_for
from vani.plugins.messaging import Template, TemplateListError

BASIC = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
INTRO = "HX" + "1" * 32
CARD = "HX" + "2" * 32
PENDING = "HX" + "3" * 32
PLAIN = "HX" + "4" * 32


def listed():
    return plugins.installed().get("twilio").messenger.templates(tenancy.require(), config_for())


def test_every_page_is_read_and_only_whatsapp_approved_contents_are_kept(app, httpserver):
    use_twilio_templates(app, httpserver)
    seen = serve_twilio_contents(httpserver, [
        [content(INTRO, "intro", {"twilio/text": {"body": "Hi {{1}}, see you {{2}}"}},
                 variables={"2": "Tuesday", "1": "Ana"}, language="es"),
         content(PENDING, "draft", {"twilio/text": {"body": "Soon"}}, status="received")],
        [content(CARD, "offer", {"twilio/card": {"title": "Offer", "body": "For {{name}}: 10% off"},
                                 "twilio/media": {"media": ["https://example.com/a.png"]}}, category="MARKETING"),
         content(PLAIN, "plain", {"twilio/quick-reply": {"body": "Yes or no?", "actions": []},
                                  "twilio/text": {"body": "Yes or no, {{1}}?"}})],
    ])
    assert listed() == [
        Template(INTRO, "es", "UTILITY", "Hi {{1}}, see you {{2}}", ("1", "2"), "intro"),
        Template(CARD, "en", "MARKETING", "For {{name}}: 10% off", ("name",), "offer"),
        Template(PLAIN, "en", "UTILITY", "Yes or no, {{1}}?", ("1",), "plain"),  # twilio/text first
    ]
    assert [s["path"] for s in seen] == [CONTENT_PATH] * 2
    assert seen[0]["args"] == {"PageSize": "100"}
    assert seen[1]["args"] == {"PageSize": "100", "Page": "1", "PageToken": "PT1"}
    assert {s["authorization"] for s in seen} == {BASIC}


def test_an_approval_keyed_by_channel_counts_too(app, httpserver):
    use_twilio_templates(app, httpserver)
    item = content(INTRO, "intro", {"twilio/text": {"body": "Hi"}})
    item["approval_requests"] = {"whatsapp": {**item["approval_requests"], "status": "approved"}}
    other = content(CARD, "card", {"twilio/text": {"body": "x"}})
    other["approval_requests"] = {"whatsapp": {"status": "rejected"}}
    serve_twilio_contents(httpserver, [[item, other]])
    assert [t.name for t in listed()] == [INTRO]


def test_a_refusal_says_what_twilio_said(app, httpserver):
    use_twilio_templates(app, httpserver)
    httpserver.expect_request(CONTENT_PATH).respond_with_json(
        {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
         "status": 401}, status=401)
    with pytest.raises(TemplateListError, match="Twilio answered 401: Authenticate") as caught:
        listed()
    assert caught.value.configured is True and caught.value.http_status == 401


def test_without_the_account_nothing_is_asked(app, httpserver):
    use_twilio_templates(app, httpserver)
    app.config["TWILIO_ACCOUNT_SID"] = None
    with pytest.raises(TemplateListError, match="TWILIO_ACCOUNT_SID") as caught:
        listed()
    assert caught.value.configured is False and httpserver.log == []
