"""What the dashboard's pages do with what they are given: attacker-controlled data escaped, script
URLs never links, the content security policy and the other security headers on every HTML answer
(error pages too, HSTS when asked), page links that a query string cannot steer, ids and dates out
of range."""
from __future__ import annotations

import re

import pytest

from tests.web.seed import add_event, seed_all
from vani.extensions import db
from vani.security import CSP

SCRIPT = "<script>alert(1)</script>"
BIG = "99999999999999999999"  # beyond a 64-bit id


def text(r) -> str:
    return r.get_data(as_text=True)


def _hostile_rows() -> dict:
    """Rows whose provider-supplied fields carry markup and script URLs."""
    from vani import outbound
    from vani.models import Conversation, Meeting, Message, Prospect

    prospect = Prospect(email="x@example.com", name=f"Eve {SCRIPT}", source="calendly")
    db.session.add(prospect)
    db.session.flush()
    meeting = Meeting(provider="calendly", provider_ref="ref-x", prospect_id=prospect.id, title=f"Call {SCRIPT}",
                      status="scheduled", join_url="javascript:alert(document.cookie)", location_type="zoom")
    conv = Conversation(provider="kapso", provider_ref="c-x", channel="whatsapp", prospect_id=prospect.id,
                        phone="+15550100009", contact_name=SCRIPT, status="active")
    db.session.add_all([meeting, conv])
    db.session.flush()
    db.session.add(Message(conversation_id=conv.id, provider="kapso", provider_message_id="wamid.x",
                           direction="inbound", type="image", text=SCRIPT, status="received",
                           media_urls=["javascript:alert(2)", "https://media.example.com/a.jpg"]))
    db.session.commit()
    event = add_event(event_type=f"x{SCRIPT}", email="x@example.com", outcome=SCRIPT,
                      payload={"note": f"</pre>{SCRIPT}"}, prospect_id=prospect.id, meeting_id=meeting.id)
    event.headers = {"X-Evil": f'"><img src=x onerror=alert(1)>{SCRIPT}'}
    db.session.commit()
    sub, _ = outbound.create_subscription(f"https://hooks.example.com/{SCRIPT}", ["*"], description=SCRIPT)
    return {"prospect": prospect, "meeting": meeting, "conversation": conv, "event": event, "subscription": sub}


def test_attacker_controlled_fields_are_escaped_and_script_urls_are_not_links(login):
    rows = _hostile_rows()
    client = login("admin")
    pages = ["/dashboard/", "/dashboard/events", f"/dashboard/events/{rows['event'].id}",
             f"/dashboard/prospects/{rows['prospect'].id}", f"/dashboard/meetings/{rows['meeting'].id}",
             "/dashboard/meetings", "/dashboard/messages", f"/dashboard/messages/{rows['conversation'].id}",
             "/dashboard/subscriptions", f"/dashboard/subscriptions/{rows['subscription'].id}", "/dashboard/prospects"]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        html = text(r)
        assert SCRIPT not in html and "<img src=x" not in html, path
        assert not re.search(r'href="\s*javascript:', html, re.I), path
    meeting = text(client.get(f"/dashboard/meetings/{rows['meeting'].id}"))
    assert "javascript:alert(document.cookie)" in meeting  # shown as text, not as a link
    media = text(client.get(f"/dashboard/messages/{rows['conversation'].id}"))
    assert 'href="https://media.example.com/a.jpg"' in media
    assert "&lt;script&gt;" in text(client.get(f"/dashboard/events/{rows['event'].id}"))


def test_pages_carry_a_content_security_policy_and_no_inline_code(login):
    seed_all()
    client = login("admin")
    for path in ("/dashboard/", "/dashboard/events", "/dashboard/deliveries", "/dashboard/subscriptions",
                 "/dashboard/users", "/dashboard/login"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        html = text(r)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path  # only external scripts
        assert " style=" not in html and " onclick=" not in html, path


def test_page_links_ignore_url_for_options_in_the_query(app, login):
    app.config["VANI_DASHBOARD_PAGE_SIZE"] = 1
    seed_all()
    client = login("viewer")
    html = text(client.get("/dashboard/events?status=processed&_external=1&_scheme=javascript&_anchor=x"
                           "&q=ana%40example.com"))
    assert "javascript:" not in html and "#x" not in html and "http://vani.test/" not in html
    html = text(client.get("/dashboard/events?_external=1&_scheme=javascript"))
    older = re.search(r'href="([^"]+)" rel="next"', html).group(1)
    assert older.startswith("/dashboard/events?cursor=")


@pytest.mark.parametrize("path", [
    f"/dashboard/events/{BIG}", f"/dashboard/deliveries/{BIG}", f"/dashboard/subscriptions/{BIG}",
    f"/dashboard/prospects/{BIG}", f"/dashboard/meetings/{BIG}", f"/dashboard/messages/{BIG}",
])
def test_ids_beyond_64_bits_are_404_not_a_server_error(login, path):
    r = login("viewer").get(path)
    assert r.status_code == 404 and f"There is no record {BIG}." in r.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    f"/dashboard/deliveries?subscription={BIG}", f"/dashboard/events?after={BIG}", "/dashboard/events?to=9999-12-31",
    "/dashboard/deliveries?to=9999-12-31", "/dashboard/events?from=0001-01-01T00:00%2B05:00",
    "/dashboard/deliveries?subscription=-1",
])
def test_numbers_and_dates_out_of_range_are_a_clear_400(login, path):
    r = login("viewer").get(path)
    assert r.status_code == 400 and "Bad request" in text(r)


def test_retry_all_failed_for_an_unknown_subscription_is_404(login):
    from vani.models import WebhookDelivery

    failed = seed_all()["failed"]
    client = login("staff")
    r = client.get("/dashboard/deliveries/retry-failed?subscription=424242")
    assert r.status_code == 404 and "There is no subscription 424242." in r.get_data(as_text=True)
    r = client.post("/dashboard/deliveries/retry-failed",
                    data={"subscription": "424242", "confirm": "1", "csrf_token": client.csrf})
    assert r.status_code == 404 and "There is no subscription 424242." in r.get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(WebhookDelivery, failed.id)
    assert (row.status, row.manual) == ("failed", False)  # the failed delivery was not requeued


def test_every_html_answer_has_the_security_headers(app, client, login):
    pages = [client.get("/dashboard/login"), client.get("/dashboard/no-such-page"),
             client.get("/nowhere", headers={"Accept": "text/html"}), login("viewer").get("/dashboard/")]
    for r in pages:
        assert r.mimetype == "text/html", r.status_code
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in r.headers  # not over plain development HTTP
    api = client.get("/api/v1/events")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and api.status_code == 401
    app.config["VANI_HSTS"] = True
    assert client.get("/dashboard/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")
