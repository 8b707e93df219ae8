"""The approved-template picker on the prospect page, in headless Chromium: choosing a template
shows its message and one labelled field per variable (a header's and a link button's named for
what they are; the others hidden and not sent), what is
sent is the chosen template with those values, and the form passes axe-core."""
from __future__ import annotations

import pytest

from tests.fakes.whatsapp_templates import meta_template, serve_kapso_templates, use_kapso_templates
from tests.web.helpers import axe_violations, chromium_or_skip, sign_in

pytestmark = pytest.mark.browser


def test_choosing_a_template_shows_its_message_and_its_fields(app, live_server, make_user, httpserver, db):
    from playwright.sync_api import expect
    from sqlalchemy import select

    from vani.models.replies import MessageSend
    from vani.prospects import editing

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template("intro", "Hi {{1}}, shall we talk on {{2}}?", "es"),
                                        meta_template("welcome", "Welcome aboard, {{1}}!"),
                                        meta_template("offer", "Yours, {{1}}", header={"type": "HEADER", "format": "IMAGE"},
                                                      buttons=[{"type": "URL", "text": "Open",
                                                                "url": "https://shop.example.test/{{1}}"}])]])
    make_user("staff", email="rep@example.com")
    prospect = editing.create({"name": "Lena", "phone": "+15550100031"}, editing.Actor("tests", "api"))
    with chromium_or_skip() as browser:
        page = browser.new_context(bypass_csp=True).new_page()  # axe-core is added inline
        page.set_default_timeout(10_000)
        sign_in(page, live_server, "rep@example.com")
        page.goto(f"{live_server}/dashboard/prospects/{prospect.id}")
        form = page.locator("#start-conversation")
        expect(form.locator("#template-body")).to_have_text("Hi {{1}}, shall we talk on {{2}}?")
        expect(form.get_by_label("Value for {{1}}")).to_be_visible()
        expect(form.get_by_label("Value for {{2}}")).to_be_visible()
        assert axe_violations(page) == []

        form.get_by_label("Approved template").select_option("en_US:offer")  # a header image and a link's end
        expect(form.get_by_label("Header image: its https:// link")).to_be_visible()
        expect(form.get_by_label("Value for {{1}}")).to_be_visible()
        expect(form.get_by_label("End of button 1's link")).to_be_visible()

        form.get_by_label("Approved template").select_option("en_US:welcome")
        expect(form.locator("#template-body")).to_have_text("Welcome aboard, {{1}}!")
        expect(form.locator("#template-variable-2")).to_be_hidden()
        expect(form.locator("#template-variable-2")).to_be_disabled()
        expect(form.get_by_role("textbox", name="Value for {{1}}")).to_have_id("template-variable-1")
        form.get_by_role("textbox", name="Value for {{1}}").fill("Lena")
        form.get_by_role("button", name="Send template").click()
        expect(page.locator(".flash-success")).to_contain_text("Template queued")
    [send] = db.session.execute(select(MessageSend)).scalars().all()
    assert send.payload == {"template": {"name": "welcome", "language": "en_US", "variables": ["Lena"]}}
