"""A sales team's day in a real browser, live from start to end: a Calendly booking appears on an
empty prospects list; its meeting completes after its end time and the stage moves to met; a note is
added; a WhatsApp template starts the conversation; the prospect's answer shows unread in the
navigation; the timeline shows it all in the organisation's time zone. No page is reloaded by hand."""
from __future__ import annotations

import pytest

from tests.bookings import calendly
from tests.signing import post_calendly
from tests.paths import ROOT
from tests.web.helpers import chromium_or_skip, sign_in

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def page():
    with chromium_or_skip() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 900}, timezone_id="Asia/Kolkata")
        context.set_default_timeout(10_000)
        yield context.new_page()
        context.close()


def test_a_day_with_one_prospect(app, live_server, page, make_user, client, run_worker, httpserver):
    from playwright.sync_api import expect

    from tests.conversations.helpers import NUMBER_ID, PHONE, kapso_answers, receive_kapso, use_kapso
    from vani import tenancy
    from vani.extensions import db
    from vani.models import Organisation
    from vani.prospects import completion

    ARTIFACTS.mkdir(exist_ok=True)
    use_kapso(app, httpserver)
    app.config["KAPSO_PHONE_NUMBER_ID"] = NUMBER_ID
    sent = kapso_answers(httpserver)
    db.session.get(Organisation, tenancy.require()).timezone = "Europe/Berlin"
    db.session.commit()
    make_user("staff", email="rep@example.com")
    sign_in(page, live_server, "rep@example.com")

    # 1. A Calendly booking appears live on the empty prospects list.
    page.goto(f"{live_server}/dashboard/prospects?owner=any")
    expect(page.locator("main")).to_contain_text("No prospects yet")
    assert post_calendly(client, calendly("invitee.created", phone=PHONE)).status_code == 200
    run_worker()
    row = page.locator("main table tbody tr", has_text="Lena Novak")
    expect(row).to_be_visible()
    row.get_by_role("link").first.click()
    expect(page.locator("main h1")).to_have_text("Lena Novak")
    expect(page.locator("dl.facts")).to_contain_text("booked")

    # 2. Its meeting completes after its end time; the stage moves to met (the page updates itself).
    assert completion.complete_ended() == 1
    run_worker()
    expect(page.locator("dl.facts")).to_contain_text("met", timeout=5_000)

    # 3. A note is added.
    page.get_by_label("Note", exact=True).fill("Wants a quote for 12 seats")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("ol.timeline")).to_contain_text("Wants a quote for 12 seats")

    # 4. A template starts the WhatsApp conversation.
    page.get_by_label("Template name").fill("intro")
    page.get_by_label("Language").fill("es")
    page.get_by_label("Variables (separated by |)").fill("Lena")
    page.get_by_role("button", name="Send template").click()
    expect(page.locator(".flash-success")).to_contain_text("Template queued")
    run_worker()
    assert [b["template"]["name"] for b in sent if b.get("type") == "template"] == ["intro"]

    # 5. The answer shows unread in the navigation, without a reload.
    receive_kapso(client, "¡Hola! Sí, me interesa", "wamid.in1", conv="conv_day")
    run_worker()
    expect(page.locator("#nav-unread")).to_contain_text("1", timeout=5_000)

    # 6. The timeline holds it all, in the organisation's time zone (January in Berlin: CET).
    page.reload()
    timeline = page.locator("ol.timeline")
    for seen in ("Wants a quote for 12 seats", "[template intro] Lena", "¡Hola! Sí, me interesa",
                 "30 Minute Meeting", "completed after its end time"):
        expect(timeline).to_contain_text(seen)
    expect(page.locator("ol.timeline .tl-when").first).to_contain_text("CET")
    expect(timeline).to_contain_text("11:30 CET")  # the meeting's end, 10:30 UTC, in Berlin
    page.screenshot(path=str(ARTIFACTS / "a-day-prospect.png"), full_page=True)
