"""The dashboard in real headless Chromium: sign in, open an event, retry a failed delivery and
watch its status change live; screenshots go to test-artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.web.seed import seed_core, seed_messaging, seed_outbound

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium_or_skip():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return playwright


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module; each test has a fresh context (cookies, storage) of its own."""
    sync_api = _chromium_or_skip()
    with sync_api.sync_playwright() as p:
        executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, timezone_id="Asia/Kolkata",
                                   locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_sign_in_open_event_retry_delivery(app, live_server, browser_page, make_user, httpserver, run_worker):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    httpserver.expect_request("/hooks", method="POST").respond_with_data("ok", status=200)
    make_user("staff", email="ops@example.com")
    data = seed_core()
    out = seed_outbound(httpserver.url_for("/hooks"))
    seed_messaging(data["prospect"])
    prospect_id = data["prospect"].id
    event_id, failed_id = data["events"]["processed"].id, out["failed"].id
    page = browser_page

    page.goto(f"{live_server}/dashboard/")
    expect(page).to_have_url(f"{live_server}/dashboard/login?next=%2Fdashboard%2F")
    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Password").fill("password-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator(".tz-name").first).to_have_text("UTC")  # the organisation's zone, not the viewer's
    expect(page.locator("#live-status")).to_be_visible()  # the SSE stream connected
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    page.locator(".nav-group summary", has_text="Integrations").click()  # the menu of integrations
    page.get_by_role("link", name="Events", exact=True).click()
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    first_time = page.locator("tbody time").first
    expect(first_time).to_contain_text("UTC")  # the organisation's zone (none set: UTC), left as drawn …
    assert first_time.get_attribute("data-zone") == "UTC" and "UTC" in first_time.get_attribute("title")
    page.screenshot(path=str(ARTIFACTS / "events.png"), full_page=True)

    page.locator(f'tr[data-id="{event_id}"] a', has_text="invitee.created").click()
    expect(page.get_by_role("heading", name=f"invitee.created #{event_id}")).to_be_visible()
    expect(page.get_by_role("button", name="Replay")).to_be_visible()
    expect(page.locator("pre.code")).to_contain_text('"event": "invitee.created"')
    expect(page.get_by_role("link", name="Ana Lima")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "event-detail.png"), full_page=True)

    page.locator(".nav-group summary", has_text="Integrations").click()  # the menu of integrations
    page.get_by_role("link", name="Deliveries", exact=True).click()
    row = page.locator(f'tr[data-id="{failed_id}"]')
    expect(row.locator(".delivery-status")).to_have_text("failed")
    page.screenshot(path=str(ARTIFACTS / "deliveries.png"), full_page=True)

    row.get_by_role("button", name=f"Retry delivery {failed_id}").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Delivery {failed_id} queued")
    row = page.locator(f'tr[data-id="{failed_id}"]')
    expect(row.locator(".delivery-status")).to_have_text("pending")
    expect(page.locator("#live-status")).to_be_visible()

    run_worker()  # the delivery worker sends it to the receiver and publishes delivery:<id>

    expect(row.locator(".delivery-status")).to_have_text("delivered", timeout=5_000)  # no reload
    assert len(httpserver.log) == 1
    page.screenshot(path=str(ARTIFACTS / "deliveries-after-retry.png"), full_page=True)

    for name, path in (("rejected", "/dashboard/rejected"), ("prospect", f"/dashboard/prospects/{prospect_id}"),
                       ("meetings", "/dashboard/meetings"), ("subscriptions", "/dashboard/subscriptions"),
                       ("delivery-detail", f"/dashboard/deliveries/{failed_id}"),
                       ("notifications", "/dashboard/notifications"), ("messages", "/dashboard/messages")):
        page.goto(live_server + path)
        expect(page.locator("main h1").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    for name, path in (("events", "/dashboard/events"), ("deliveries", "/dashboard/deliveries"),
                       ("overview", "/dashboard/"), ("subscriptions", "/dashboard/subscriptions"),
                       ("delivery-detail", f"/dashboard/deliveries/{failed_id}")):
        page.goto(live_server + path)
        expect(page.locator("main h1").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
        # List tables fit their box: the status column is on screen without scrolling the table.
        overflow = page.evaluate("""Array.from(document.querySelectorAll('main > .table-wrap'))
            .map(w => w.scrollWidth - w.clientWidth)""")
        assert all(extra <= 1 for extra in overflow), f"a table on {path} is wider than a phone: {overflow}"


def test_keyboard_only_retry(app, live_server, browser_page, make_user, httpserver):
    """Tab to a failed delivery's Retry button and press Enter: no mouse needed."""
    from playwright.sync_api import expect

    make_user("staff", email="kb@example.com")
    failed_id = seed_outbound(httpserver.url_for("/hooks"))["failed"].id
    page = browser_page
    page.goto(f"{live_server}/dashboard/login?next=/dashboard/deliveries")
    # The email field has focus on load (autofocus); wait for it rather than race it.
    page.wait_for_function("document.activeElement && document.activeElement.type === 'email'")
    page.keyboard.type("kb@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("password-123")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    target = f"Retry delivery {failed_id}"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == target:
            break
    else:
        pytest.fail("the Retry button cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_contain_text(f"Delivery {failed_id} queued")


def test_keyboard_only_sign_in(app, live_server, browser_page, make_user):
    from playwright.sync_api import expect

    make_user("viewer", email="kb@example.com")
    page = browser_page
    page.goto(f"{live_server}/dashboard/login")
    # The email field has focus on load (autofocus); wait for it rather than race it.
    page.wait_for_function("document.activeElement && document.activeElement.type === 'email'")
    page.keyboard.type("kb@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("password-123")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.wait_for_load_state("load")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"


def test_reply_on_whatsapp_and_watch_it_delivered(app, live_server, browser_page, make_user, httpserver, run_worker,
                                                  client):
    """A staff member answers a prospect from the conversation page; the reply appears, goes out
    through (fake) Kapso, and turns "delivered" live when Kapso's status webhook arrives."""
    import json

    from playwright.sync_api import expect

    from tests.conversations.helpers import conversation, kapso_answers, kapso_status, receive_kapso, use_kapso
    from tests.whatsapp_signing import post_kapso

    ARTIFACTS.mkdir(exist_ok=True)
    use_kapso(app, httpserver)
    seen = kapso_answers(httpserver)
    make_user("staff", email="rep@example.com")
    receive_kapso(client, "¿Tienen precios para equipos?", "wamid.in1")
    run_worker()
    conv_id = conversation(app.extensions["sqlalchemy"]).id
    page = browser_page
    page.goto(f"{live_server}/dashboard/login")
    page.get_by_label("Email").fill("rep@example.com")
    page.get_by_label("Password").fill("password-123")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/dashboard/messages/{conv_id}")
    expect(page.locator("#thread")).to_contain_text("¿Tienen precios para equipos?")
    expect(page.locator("#live-status")).to_be_visible()

    page.get_by_label("Message").fill("Sí: para 12 personas son 99 € al mes.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Reply queued")
    reply = page.locator("#thread li", has_text="99 € al mes")
    expect(reply.locator(".msg-status")).to_have_text("queued")

    run_worker()  # the sends lane calls Kapso and publishes conversation:<id>
    expect(reply.locator(".msg-status")).to_have_text("sent", timeout=5_000)
    texts = [b for b in seen if b.get("type") == "text"]
    assert [b["text"]["body"] for b in texts] == ["Sí: para 12 personas son 99 € al mes."]

    body = json.dumps(kapso_status("wamid.out" + str(seen.index(texts[0]) + 1), "delivered")).encode()
    assert post_kapso(client, body, "whatsapp.message.delivered").status_code == 200
    run_worker()
    expect(reply.locator(".msg-status")).to_have_text("delivered", timeout=5_000)  # no reload
    page.screenshot(path=str(ARTIFACTS / "conversation-reply.png"), full_page=True)


def test_prospect_page_shows_answers_source_owner_and_stage(app, live_server, browser_page, make_user, client,
                                                            run_worker):
    """A Cal.com booking with answers, UTM and a host who is a member: the prospect page shows
    them, with the stage, in a real browser."""
    import json
    from pathlib import Path as _Path

    from playwright.sync_api import expect

    from tests.signing import post_cal_com
    from vani.extensions import db
    from vani.models import Prospect

    ARTIFACTS.mkdir(exist_ok=True)
    body = json.loads((_Path(__file__).resolve().parents[1] / "fixtures" / "cal_com" / "booking_created_with_answers.json").read_text())
    host = body["payload"]["organizer"]["email"]
    make_user("staff", email=host)
    assert post_cal_com(client, body).status_code == 200
    run_worker()
    prospect = db.session.execute(db.select(Prospect)).scalar_one()
    page = browser_page
    page.goto(f"{live_server}/dashboard/login")
    page.get_by_label("Email").fill(host)
    page.get_by_label("Password").fill("password-123")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/dashboard/prospects")  # staff see their own prospects by default
    expect(page.locator(f'tr[data-id="{prospect.id}"]')).to_contain_text("booked")
    page.locator(f'tr[data-id="{prospect.id}"] a').first.click()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("booked")
    expect(facts).to_contain_text(host)
    expect(facts).to_contain_text(prospect.utm_source)
    answers = page.locator("dl.answers").first
    expect(answers).to_contain_text(prospect.meetings[0].answers[0]["question"])
    page.screenshot(path=str(ARTIFACTS / "prospect-qualified.png"), full_page=True)


def test_a_prospect_made_and_moved_by_hand(app, live_server, browser_page, make_user):
    """A staff member creates a prospect, adds a note and moves its stage back: without a reason
    the refusal shows beside the reason field; with one, the timeline says who moved it and why.
    The page fits a phone."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    make_user("staff", email="hana@example.test")
    page = browser_page
    page.goto(f"{live_server}/dashboard/login")
    page.get_by_label("Email").fill("hana@example.test")
    page.get_by_label("Password").fill("password-123")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/dashboard/prospects")
    page.get_by_role("link", name="New prospect").click()
    page.get_by_label("Name").fill("Lena Novak")
    page.get_by_label("Email").fill("lena@")
    page.get_by_role("button", name="Create prospect").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#prospect-email-error")).to_contain_text("email address")
    expect(page.get_by_label("Name")).to_have_value("Lena Novak")
    email.fill("lena@example.test")
    page.get_by_label("Phone (international, e.g. +15550100007)").fill("+1 555 010 0031")
    page.get_by_role("button", name="Create prospect").click()
    expect(page.locator("main h1")).to_have_text("Lena Novak")

    page.get_by_label("Note").fill("Wants a quote for 12 seats")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("ol.timeline")).to_contain_text("Wants a quote for 12 seats")
    page.get_by_label("Stage", exact=True).select_option("met")
    page.get_by_role("button", name="Move stage").click()
    expect(page.locator("dl.facts")).to_contain_text("met")
    page.get_by_label("Stage", exact=True).select_option("lead")
    page.get_by_role("button", name="Move stage").click()
    expect(page.locator("#stage-reason-error")).to_contain_text("needs a reason")
    page.get_by_label("Reason (needed to move back)").fill("Booked by mistake")
    page.get_by_role("button", name="Move stage").click()
    expect(page.locator("ol.timeline")).to_contain_text("Stage moved from met to lead by hana@example.test: Booked by mistake")
    expect(page.locator("#start-conversation")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "prospect-by-hand.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the prospect page scrolls sideways on a phone ({width}px)"


def test_overview_charts_and_a_prospect_timeline(app, live_server, browser_page, make_user, client, run_worker):
    """The overview's charts drawn from the rollups, their figures a click away, and a prospect's
    timeline of every kind, in a real browser (screenshots: overview-charts.png, prospect-timeline.png)."""
    from playwright.sync_api import expect

    from tests.web.seed import seed_activity, seed_timeline

    ARTIFACTS.mkdir(exist_ok=True)
    make_user("viewer", email="viewer@example.com")
    seed_core()
    seed_activity()
    prospect_id = seed_timeline(client, run_worker)
    page = browser_page
    page.goto(f"{live_server}/dashboard/login")
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Password").fill("password-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(5)
    for name in ("Deliveries per hour", "Delivery latency", "Processing lag", "Stage funnel"):
        expect(page.get_by_role("heading", name=name)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "overview-charts.png"), full_page=True)
    figures = page.locator("#deliveries-chart details")
    expect(figures.locator("table")).to_be_hidden()
    figures.locator("summary").click()
    expect(figures.locator("table")).to_be_visible()
    expect(figures.locator("tbody tr").first).to_contain_text("UTC")  # the organisation's zone (none set: UTC)

    page.goto(f"{live_server}/dashboard/prospects/{prospect_id}")
    timeline = page.locator("#timeline")
    for text in ("Can we talk on Friday?", "Pricing", "Contact us", "Asked for a discount"):
        expect(timeline).to_contain_text(text)
    expect(timeline.locator(".tl-stage_change")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "prospect-timeline.png"), full_page=True)
