"""The dashboard in headless Chromium: updates arrive in place on empty pages too, keep focus,
skip the new-row animation for reduced motion, count unread messages live; and every page
passes axe-core with no serious or critical violation."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.helpers import axe_violations, chromium_or_skip, sign_in, wait_live
from tests.web.seed import add_event, seed_all

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def chromium():
    with chromium_or_skip() as browser:
        yield browser


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


def calendly_booking(n: int) -> dict:
    return {"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
            "payload": {"uri": f"https://api.calendly.com/scheduled_events/E{n}/invitees/I{n}",
                        "email": f"first{n}@example.com", "name": f"First {n}",
                        "scheduled_event": {"uri": f"https://api.calendly.com/scheduled_events/E{n}", "name": "Intro",
                                            "start_time": "2026-02-01T10:00:00Z", "end_time": "2026-02-01T10:30:00Z"}}}


def test_empty_pages_show_the_first_rows_live(app, live_server, context, make_user, client, run_worker):
    from playwright.sync_api import expect

    from tests.signing import post_calendly

    make_user("staff", email="live@example.com")
    events = context.new_page()
    sign_in(events, live_server, "live@example.com")
    events.goto(f"{live_server}/dashboard/events")
    expect(events.get_by_text("No events yet")).to_be_visible()
    prospects = context.new_page()
    prospects.goto(f"{live_server}/dashboard/prospects?owner=any")
    meetings = context.new_page()
    meetings.goto(f"{live_server}/dashboard/meetings?owner=any")
    for page in (events, prospects, meetings):
        wait_live(page)

    event_id = post_calendly(client, calendly_booking(1)).json["event_id"]
    expect(events.locator(f'tr[data-id="{event_id}"]')).to_be_visible()  # no reload
    run_worker()
    expect(prospects.locator("tbody#rows tr", has_text="first1@example.com")).to_be_visible()
    expect(meetings.locator("tbody#rows tr", has_text="Intro")).to_be_visible()
    expect(events.locator(f'tr[data-id="{event_id}"]')).to_contain_text("processed")


def test_updates_keep_focus_and_respect_reduced_motion(app, live_server, context, make_user, client):
    from playwright.sync_api import expect

    from tests.signing import post_calendly

    make_user("staff", email="focus@example.com")
    first = add_event(email="old@example.com")
    page = context.new_page()
    sign_in(page, live_server, "focus@example.com")
    page.goto(f"{live_server}/dashboard/events")
    wait_live(page)
    link = page.locator(f'tr[data-id="{first.id}"] a').first
    link.focus()

    second = post_calendly(client, calendly_booking(2)).json["event_id"]
    row = page.locator(f'tr[data-id="{second}"]')
    expect(row).to_be_visible()
    expect(row).to_have_class("row-new")  # highlighted once …
    assert page.evaluate(f"document.activeElement.closest('tr').dataset.id") == str(first.id)  # focus stays
    assert page.get_attribute("tbody#rows", "aria-live") == "polite"

    page.emulate_media(reduced_motion="reduce")  # … but not for people who ask for less motion
    third = post_calendly(client, calendly_booking(3)).json["event_id"]
    row = page.locator(f'tr[data-id="{third}"]')
    expect(row).to_be_visible()
    expect(row).not_to_have_class("row-new")
    assert page.evaluate("getComputedStyle(document.querySelector('tr.row-new') || document.body)"
                         ".animationName") == "none"


def test_unread_count_in_the_navigation_updates_live(app, live_server, context, make_user, client, run_worker,
                                                    httpserver):
    from playwright.sync_api import expect

    from tests.conversations.helpers import receive_kapso, use_kapso

    make_user("viewer", email="count@example.com")
    page = context.new_page()
    sign_in(page, live_server, "count@example.com")
    wait_live(page)
    expect(page.locator("#nav-unread")).to_have_text("")
    use_kapso(app, httpserver)
    receive_kapso(client, "Hola, ¿hay precios?", "wamid.live1")
    run_worker()
    expect(page.locator("#nav-unread")).to_have_text("1 unread")


def test_every_dashboard_page_passes_axe(app, live_server, context, make_user, httpserver):
    from vani.accounts import invitations

    admin = make_user("admin", email="axe@example.com", superuser=True)  # a superuser sees every page
    data = seed_all()
    invited = invitations.invite("newcomer@example.com", "staff", admin)
    page = context.new_page()
    sign_in(page, live_server, "axe@example.com")
    paths = ["/dashboard/", "/dashboard/events", f"/dashboard/events/{data['events']['failed'].id}",
             "/dashboard/rejected", "/dashboard/deliveries", f"/dashboard/deliveries/{data['failed'].id}",
             "/dashboard/subscriptions", f"/dashboard/subscriptions/{data['subscription'].id}",
             "/dashboard/prospects?owner=any", f"/dashboard/prospects/{data['prospect'].id}",
             "/dashboard/meetings?owner=any", f"/dashboard/meetings/{data['meeting'].id}",
             "/dashboard/messages", f"/dashboard/messages/{data['conversation'].id}", "/dashboard/autoreplies",
             "/dashboard/mailboxes", "/dashboard/notifications", "/dashboard/organisation", "/dashboard/calendly",
             "/dashboard/users", "/dashboard/tokens", "/dashboard/invitations", "/dashboard/processes",
             "/dashboard/prospects/new", f"/dashboard/prospects/{data['prospect'].id}/edit", "/dashboard/orgs/new"]
    found = {}
    for path in paths:
        assert page.goto(live_server + path).status == 200, path  # the page itself, not a refusal
        page.locator(".nav-group summary").first.click()  # an open menu is checked too
        found[path] = axe_violations(page)
    page.context.clear_cookies()
    for path in ("/dashboard/login", f"/dashboard/join/{invited.token}"):  # the pages before signing in
        assert page.goto(live_server + path).status == 200, path
        found[path] = axe_violations(page)
    failing = {path: v for path, v in found.items() if v}
    assert not failing, "\n".join(f"{path}: {line}" for path, v in failing.items() for line in v)


def test_navigation_fits_one_row_at_1280_and_opens_on_a_phone(app, live_server, context, make_user):
    from playwright.sync_api import expect

    make_user("admin", email="nav@example.com")
    page = context.new_page()
    sign_in(page, live_server, "nav@example.com")
    tops = page.evaluate("Array.from(document.querySelectorAll('.nav > ul > li')).map(li => li.offsetTop)")
    assert len(tops) == 7 and len(set(tops)) == 1, tops  # one row
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_text("Integrations", exact=True).click()
    page.screenshot(path=str(ARTIFACTS / "navigation-1280.png"))
    page.goto(f"{live_server}/dashboard/organisation")
    page.screenshot(path=str(ARTIFACTS / "organisation-settings.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("Settings", exact=True).click()
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_text("Settings", exact=True).click()
    page.screenshot(path=str(ARTIFACTS / "navigation-phone.png"))
    page.get_by_text("Settings", exact=True).click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_text("Integrations", exact=True).click()
    page.keyboard.press("Escape")  # closes the menu, focus back on its title
    expect(page.get_by_role("link", name="Deliveries")).to_be_hidden()
    assert page.evaluate("document.activeElement.textContent") == "Integrations"


def test_a_row_that_stops_matching_the_filters_leaves_the_list(app, live_server, context, make_user, client,
                                                                 run_worker):
    from playwright.sync_api import expect

    from tests.signing import post_calendly

    make_user("viewer", email="filters@example.com")
    kept = add_event(status="received", next_attempt_at=None).id  # waits, and no worker takes it (not due)
    page = context.new_page()
    sign_in(page, live_server, "filters@example.com")
    page.goto(f"{live_server}/dashboard/events?status=received")
    wait_live(page)
    event_id = post_calendly(client, calendly_booking(4)).json["event_id"]
    row = page.locator(f'tr[data-id="{event_id}"]')
    expect(row).to_be_visible()
    run_worker()  # processed: no longer "received"
    expect(row).to_have_count(0)
    expect(page.locator(f'tr[data-id="{kept}"]')).to_be_visible()
