"""Every dashboard page renders, empty and with data."""
from __future__ import annotations

import pytest

from tests.web.seed import seed_all, seed_core


@pytest.fixture(autouse=True)
def _fresh_type_cache():
    from vani.dashboard.events import forget_event_types

    forget_event_types()
    yield
    forget_event_types()


def text(response) -> str:
    return response.get_data(as_text=True)


CORE_PAGES = ["/dashboard/", "/dashboard/events", "/dashboard/rejected", "/dashboard/prospects",
              "/dashboard/meetings", "/dashboard/users", "/dashboard/deliveries", "/dashboard/subscriptions",
              "/dashboard/notifications", "/dashboard/messages"]


@pytest.mark.parametrize("path", CORE_PAGES)
def test_pages_render_empty(login, path):
    client = login("admin")
    r = client.get(path)
    assert r.status_code == 200, text(r)
    assert "<main" in text(r)


def test_empty_states_explain_what_to_do(login):
    client = login("viewer")
    page = text(client.get("/dashboard/events"))
    assert "No events yet" in page
    assert "http://vani.test/api/webhooks/calendly" in page
    assert "http://vani.test/api/webhooks/cal-com" in page
    assert "No rejected calls" in text(client.get("/dashboard/rejected"))
    assert "No prospects yet" in text(client.get("/dashboard/prospects"))
    assert "No meetings yet" in text(client.get("/dashboard/meetings"))
    overview = text(client.get("/dashboard/"))
    assert "No events received yet" in overview
    assert "No subscriptions yet" in overview


def test_webhook_urls_use_public_url(app, login):
    app.config["PUBLIC_URL"] = "https://hooks.example.org"
    page = text(login("viewer").get("/dashboard/events"))
    assert "https://hooks.example.org/api/webhooks/calendly" in page


@pytest.mark.parametrize("path", CORE_PAGES)
def test_pages_render_with_data(login, path):
    seed_all()
    client = login("admin")
    r = client.get(path)
    assert r.status_code == 200, text(r)
    assert "No events yet" not in text(r) and "yet.</strong>" not in text(r)


def test_detail_pages_render_with_data(login):
    data = seed_all()
    client = login("admin")
    for path, shown in ((f"/dashboard/events/{data['events']['failed'].id}",
                         ("BOOKING_CREATED", "Cal.com", "KeyError")),
                        (f"/dashboard/prospects/{data['prospect'].id}", ("<h1>Ana Lima</h1>", "ana@example.com")),
                        (f"/dashboard/meetings/{data['meeting'].id}", ("Intro call", "https://meet.example.com/abc")),
                        (f"/dashboard/deliveries/{data['failed'].id}", ("meeting.scheduled", "HTTP 500")),
                        (f"/dashboard/subscriptions/{data['subscription'].id}",
                         ("https://receiver.example.com/hooks", "CRM sync")),
                        (f"/dashboard/messages/{data['conversation'].id}",
                         ("Hi, can we move the call?", "Sure, pick a time"))):
        r = client.get(path)
        assert r.status_code == 200, (path, text(r))
        assert all(s in text(r) for s in shown), (path, [s for s in shown if s not in text(r)])


def test_overview_with_data(login):
    seed_core()
    page = text(login("viewer").get("/dashboard/"))
    # From the hourly rollups: three events settled (processed, failed, ignored); one still waits.
    assert "<svg" in page and 'aria-label="Events settled per hour over the last 48 hours: 3 in total"' in page
    assert "Calendly" in page and "Cal.com" in page
    assert "/dashboard/rejected?provider=calendly" in page  # rejected calls link
    assert "/dashboard/events?provider=cal_com&amp;status=failed" in page


def test_events_list_shows_rows_and_filters(login):
    data = seed_core()
    client = login("viewer")
    page = text(client.get("/dashboard/events"))
    for event in data["events"].values():
        assert f"/dashboard/events/{event.id}" in page
    assert '<option selected>' not in page
    assert "BOOKING_CREATED" in page  # in the type menu and a row
    failed = text(client.get("/dashboard/events?status=failed"))
    assert f'data-id="{data["events"]["failed"].id}"' in failed
    assert f'data-id="{data["events"]["processed"].id}"' not in failed


def test_event_detail(login):
    data = seed_core()
    event = data["events"]["processed"]
    page = text(login("staff").get(f"/dashboard/events/{event.id}"))
    assert "Calendly-Webhook-Signature" in page  # headers
    assert '&#34;event&#34;: &#34;invitee.created&#34;,\n' in page  # pretty-printed payload
    assert "Ana Lima" in page and "Intro call" in page  # linked prospect and meeting
    assert "Replay" in page
    assert 'datetime="' in page and " UTC" in page


def test_event_detail_failed_shows_error_and_viewer_has_no_replay(login):
    data = seed_core()
    page = text(login("viewer").get(f"/dashboard/events/{data['events']['failed'].id}"))
    assert "KeyError: &#39;attendees&#39;" in page
    assert "Replay" not in page


def test_event_not_found_is_404(login):
    r = login("viewer").get("/dashboard/events/999999")
    assert r.status_code == 404
    assert "There is no event 999999" in text(r)


def test_rejected_page_shows_reason_and_checked_url(login):
    seed_core()
    page = text(login("viewer").get("/dashboard/rejected"))
    assert "invalid_signature" in page and "no v1 signature matched" in page
    assert "https://vani.example.com/api/webhooks/cal-com" in page
    only = text(login("viewer").get("/dashboard/rejected?provider=cal_com"))
    assert "missing_signature" in only and "invalid_signature</span>" not in only


def test_prospects_search_and_timeline(login):
    data = seed_core()
    client = login("viewer")
    assert "Ana Lima" in text(client.get("/dashboard/prospects?q=ana@"))
    assert "Ana Lima" in text(client.get("/dashboard/prospects?q=%2B1 555 010 0002"))
    assert "Nobody matches" in text(client.get("/dashboard/prospects?q=zzz"))
    page = text(client.get(f"/dashboard/prospects/{data['prospect'].id}"))
    assert "Intro call" in page and "Calendly meeting scheduled" in page
    assert f"/dashboard/events/{data['events']['processed'].id}" in page
    assert 'id="meeting-' in page


def test_meetings_search(login):
    seed_core()
    client = login("viewer")
    assert "Intro call" in text(client.get("/dashboard/meetings?q=intro"))
    assert "Intro call" in text(client.get("/dashboard/meetings?status=scheduled"))
    assert "No meetings match" in text(client.get("/dashboard/meetings?status=cancelled"))


def test_bad_filter_is_a_clear_400(login):
    client = login("viewer")
    r = client.get("/dashboard/events?from=yesterday")
    assert r.status_code == 400
    assert "from: use a date like 2026-01-31" in text(r)
    refused = client.get("/dashboard/events?status=nope")
    assert refused.status_code == 400
    assert "status: must be one of received, processing, processed, ignored, failed, dead" in text(refused)
    refused = client.get("/dashboard/events?cursor=%%%")
    assert refused.status_code == 400
    assert "cursor: not a cursor this API returned" in refused.get_data(as_text=True)
    refused = client.get("/dashboard/meetings?status=nope")
    assert refused.status_code == 400
    page = text(refused)
    assert "status: must be one of scheduled, pending, cancelled, rescheduled, completed, no_show, in_progress" in page


def test_nav_hides_users_from_non_admins(login):
    assert "/dashboard/users" in text(login("admin").get("/dashboard/"))
    assert "/dashboard/users" not in text(login("staff").get("/dashboard/"))
