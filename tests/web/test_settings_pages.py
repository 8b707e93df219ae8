"""Settings a person sets without learning a syntax: notification routing as a grid with a test
per channel, one webhook URL per provider to copy, the navigation in three groups, and a stored
provider setting making the approved templates be asked afresh."""
from __future__ import annotations

import re

from vani import orgs
from vani.extensions import db
from vani.notifications.routing import channels_for, settings_for


def grid_boxes(html: str) -> dict[str, bool]:
    return {m.group(1): bool(m.group(2)) for m in re.finditer(
        r'<input type="checkbox" name="route" value="([^"]+)"[^>]*?( checked)?>', html)}


def test_the_grid_shows_where_each_kind_goes_and_saves_ticked_boxes(app, login):
    admin = login("admin")
    boxes = grid_boxes(admin.get("/dashboard/organisation").get_data(as_text=True))
    assert len(boxes) == 15 * 5 and boxes["alert.dead_letters:admins"] and not boxes["alert.dead_letters:slack"]
    r = admin.post("/dashboard/organisation/notifications", data={
        "grid": "1", "route": ["payment.received:slack", "payment.received:owner", "alert.dead_letters:email"],
        "email_to": "", "csrf_token": admin.csrf})
    assert r.status_code == 303
    cfg = settings_for(orgs.in_force().id)
    assert set(channels_for("payment.received", cfg)) == {"owner", "slack"}
    assert channels_for("prospect.created", cfg) == []  # no box ticked: sent nowhere
    assert channels_for("alert.dead_letters", cfg) == ["email"]
    boxes = grid_boxes(admin.get("/dashboard/organisation").get_data(as_text=True))
    assert {k for k, on in boxes.items() if on} == {"payment.received:owner", "payment.received:slack",
                                                    "alert.dead_letters:email"}


def test_a_box_the_grid_does_not_have_is_refused_and_nothing_changes(app, login):
    admin = login("admin")
    r = admin.post("/dashboard/organisation/notifications", data={
        "grid": "1", "route": ["payment.received:fax"], "csrf_token": admin.csrf})
    assert r.status_code == 400 and "is not a kind and channel of the grid" in r.get_data(as_text=True)
    db.session.expire_all()
    assert orgs.in_force().notify_routes is None
    staff = login("staff")
    r = staff.post("/dashboard/organisation/notifications", data={"grid": "1", "csrf_token": staff.csrf})
    assert r.status_code == 403


def test_each_channel_has_a_test_button_that_sends_a_sample(app, login, httpserver):
    httpserver.expect_request("/services/T/B/x", method="POST").respond_with_data("ok")
    app.config["SLACK_WEBHOOK_URL"] = httpserver.url_for("/services/T/B/x")
    admin = login("admin")
    page = admin.get("/dashboard/organisation").get_data(as_text=True)
    for channel in ("owner", "admins", "slack", "email", "webhook"):
        assert f'aria-label="Test {channel}: send a sample notification"' in page
    r = admin.post("/dashboard/organisation/notifications/test", data={"channel": "slack", "csrf_token": admin.csrf},
                   follow_redirects=True)
    assert "Test notification sent through slack" in r.get_data(as_text=True)
    assert len(httpserver.log) == 1 and b"Vani test notification" in httpserver.log[0][0].get_data()
    r = admin.post("/dashboard/organisation/notifications/test", data={"channel": "email", "csrf_token": admin.csrf},
                   follow_redirects=True)
    assert "email cannot send yet: SMTP_URL is not set" in r.get_data(as_text=True)
    r = admin.post("/dashboard/organisation/notifications/test", data={"channel": "fax", "csrf_token": admin.csrf},
                   follow_redirects=True)
    assert "use one of slack, email, webhook, owner, admins" in r.get_data(as_text=True) and len(httpserver.log) == 1


def test_one_recommended_url_per_provider_with_a_copy_button_and_aliases_folded(app, login):
    app.config["PUBLIC_URL"] = "https://hooks.example.org"
    page = login("viewer").get("/dashboard/").get_data(as_text=True)
    key = orgs.in_force().key
    calendly = re.search(r"<li><strong>Calendly</strong>.*?</li>\s*(?=<li><strong>|</ul>\s*<p)", page, re.S).group(0)
    recommended = re.search(r'<div class="url-line"><code class="copy" id="url-calendly">([^<]+)</code>', calendly)
    assert recommended.group(1) == f"https://hooks.example.org/api/webhooks/calendly/{key}"
    assert 'data-copy="url-calendly"' in calendly
    folded = calendly.partition('<details class="aliases">')[2]
    assert "https://hooks.example.org/api/webhooks/calendly</code>" in folded
    assert "without the organisation key" in folded
    assert page.count('class="url-line"') == page.count("<li><strong>")


def test_navigation_groups_work_integrations_and_settings(login):
    page = login("admin").get("/dashboard/events").get_data(as_text=True)
    nav = page.partition('<nav class="nav"')[2].partition("</nav>")[0]
    top = re.sub(r"<details>.*?</details>", "", nav, flags=re.S)
    assert re.findall(r">([A-Z][a-z]+)\s*(?:<span id=\"nav-unread\"|</a>)", top) == [
        "Overview", "Prospects", "Meetings", "Messages", "Mail"]
    groups = re.findall(r"<summary([^>]*)>(\w+)</summary>(.*?)</details>", nav, re.S)
    assert [(title, re.findall(r">(\w+)\s*</a>", links)) for _, title, links in groups] == [
        ("Integrations", ["Events", "Rejected", "Deliveries", "Subscriptions", "Calendly"]),
        ("Settings", ["Organisation", "Members", "Tokens", "Notifications", "Processes"])]
    assert groups[0][0] == ' class="current"' and groups[1][0] == ""


def test_storing_a_provider_setting_drops_the_kept_template_list(app, login, httpserver):
    """Another business account (or key) may list other templates: the next page asks afresh."""
    from tests.fakes.whatsapp_templates import BUSINESS_ID, meta_template, serve_kapso_templates, use_kapso_templates
    from vani.conversations import templates

    use_kapso_templates(app, httpserver)
    seen = serve_kapso_templates(httpserver, [[meta_template("intro", "Hi {{1}}")]])
    templates.approved()
    templates.approved()
    assert len(seen) == 1
    admin = login("admin")
    r = admin.post("/dashboard/organisation/keys", data={"csrf_token": admin.csrf,
                                                         "setting": "KAPSO_BUSINESS_ACCOUNT_ID", "value": BUSINESS_ID})
    assert r.status_code == 303
    assert "KAPSO_BUSINESS_ACCOUNT_ID" in admin.get("/dashboard/organisation").get_data(as_text=True)
    templates.approved()
    assert len(seen) == 2
