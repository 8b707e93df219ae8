"""Every list and record page listens for its own updates (empty pages too), processing tells
them what changed, and unread messages are counted per conversation and in the navigation."""
from __future__ import annotations

import re

import pytest

from tests.clients import open_stream, read_until
from tests.web.seed import seed_core, seed_messaging
from vani.extensions import db

LISTS = [("/dashboard/prospects?owner=any", "prospect"), ("/dashboard/meetings?owner=any", "meeting"),
         ("/dashboard/messages", "conversation message"), ("/dashboard/events", "event"),
         ("/dashboard/deliveries", "delivery"), ("/dashboard/notifications", "notification")]


def live_regions(html: str) -> list[str]:
    """Each live region's opening tag in the page's main content (the navigation has its own)."""
    return re.findall(r"<[a-z]+ [^>]*data-live-(?:kinds|match)=[^>]*>", html.partition('<main')[2])


@pytest.mark.parametrize("path, kinds", LISTS)
def test_empty_lists_listen_so_the_first_row_appears(login, path, kinds):
    html = login("admin").get(path).get_data(as_text=True)
    regions = [tag for tag in live_regions(html) if f'data-live-kinds="{kinds}"' in tag]
    assert len(regions) == 1, live_regions(html)
    assert 'id="live-list"' in regions[0] and 'aria-live="polite"' in regions[0]


@pytest.mark.parametrize("path, kinds", LISTS)
def test_lists_with_rows_redraw_their_rows(login, path, kinds):
    data = seed_core()
    seed_messaging(data["prospect"])
    from tests.web.seed import seed_outbound

    seed_outbound()
    html = login("admin").get(path).get_data(as_text=True)
    regions = [tag for tag in live_regions(html) if f'data-live-kinds="{kinds}"' in tag]
    assert len(regions) == 1 and regions[0].startswith('<tbody id="rows"'), live_regions(html)
    assert 'aria-live="polite"' in regions[0]
    assert 'id="live-list" data-live' not in html  # the table, not the empty state, is listening


def test_record_pages_listen_for_their_record(login):
    data = seed_core()
    conv = seed_messaging(data["prospect"])["conversation"]
    client = login("admin")
    for path, topic in ((f"/dashboard/prospects/{data['prospect'].id}", f"prospect:{data['prospect'].id}"),
                        (f"/dashboard/meetings/{data['meeting'].id}", f"meeting:{data['meeting'].id}"),
                        (f"/dashboard/messages/{conv.id}", f"conversation:{conv.id}")):
        regions = live_regions(client.get(path).get_data(as_text=True))
        assert any(f'data-live-match="{topic}"' in tag and 'aria-live="polite"' in tag for tag in regions), regions


def test_processing_tells_the_prospect_and_meeting_pages(login, redis_client, run_worker):
    from tests.signing import post_calendly
    from vani.models import Meeting, Prospect

    client = login("viewer")
    response, chunks = open_stream(client)
    next(chunks)
    body = {"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
            "payload": {"uri": "https://api.calendly.com/scheduled_events/E1/invitees/I1", "email": "live@example.com",
                        "name": "Live Person", "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/E1",
                                                                   "name": "Intro", "start_time": "2026-02-01T10:00:00Z",
                                                                   "end_time": "2026-02-01T10:30:00Z"}}}
    assert post_calendly(client, body).status_code == 200
    run_worker()
    prospect = db.session.execute(db.select(Prospect)).scalar_one()
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    seen = read_until(chunks, f"data: meeting:{meeting.id}")
    assert f"event: prospect\ndata: prospect:{prospect.id}\n\n" in seen
    response.close()


def test_unread_counts_per_conversation_and_in_the_navigation(login, redis_client):
    from tests.web.seed import add_inbound

    conv = seed_messaging()["conversation"]
    add_inbound(conv, provider_message_id="wamid.3", text="Still there?")
    db.session.commit()
    viewer = login("viewer")
    listing = viewer.get("/dashboard/messages").get_data(as_text=True)
    row = re.search(rf'<tr data-id="{conv.id}">.*?</tr>', listing, re.S).group(0)
    assert '<span class="count">2<span class="sr-only"> unread</span>' in row
    nav = re.search(r'<span id="nav-unread"[^>]*>(.*?)</span></a>', listing, re.S)
    assert nav and ">2<" in nav.group(1)
    assert ">2<" in viewer.get("/dashboard/messages/unread").get_data(as_text=True)

    staff = login("staff")
    response, chunks = open_stream(staff)
    next(chunks)
    staff.get(f"/dashboard/messages/{conv.id}")  # a staff member reads it: counts drop everywhere, live
    assert f"data: conversation:{conv.id}" in read_until(chunks, f"conversation:{conv.id}")
    response.close()
    assert viewer.get("/dashboard/messages/unread").get_data(as_text=True).strip() == ""
    listing = viewer.get("/dashboard/messages").get_data(as_text=True)
    assert 'class="count"' not in listing


def test_the_events_list_redraws_only_the_rows_named(login):
    from tests.web.seed import add_event

    client = login("viewer")
    old, new = add_event(), add_event(provider="cal_com", event_type="BOOKING_CREATED")
    rows = client.get(f"/dashboard/events?partial=1&ids={new.id}").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', rows) == [str(new.id)]
    filtered = client.get(f"/dashboard/events?partial=1&provider=calendly&ids={new.id},{old.id}")
    assert re.findall(r'<tr data-id="(\d+)"', filtered.get_data(as_text=True)) == [str(old.id)]  # filters still hold
    page = client.get("/dashboard/events").get_data(as_text=True)
    assert 'data-live-rows="' in page
    repeated = client.get(f"/dashboard/events?partial=1&ids={','.join([str(new.id)] * 150)}")
    assert repeated.status_code == 200  # a live burst names a row many times: it counts once
    for bad in ("x", "1,,-2", ",".join(str(n) for n in range(1, 102))):
        r = client.get(f"/dashboard/events?partial=1&ids={bad}")
        assert r.status_code == 400 and "ids" in r.get_data(as_text=True), bad


def test_the_deliveries_and_notifications_lists_redraw_only_the_rows_named(login):
    from tests.web.seed import seed_outbound

    out, messages = seed_outbound(), seed_messaging()
    client = login("viewer")
    delivered, failed = out["delivered"].id, out["failed"].id
    rows = client.get(f"/dashboard/deliveries?partial=1&ids={failed}").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', rows) == [str(failed)]
    filtered = client.get(f"/dashboard/deliveries?partial=1&status=delivered&ids={delivered},{failed}")
    assert re.findall(r'<tr data-id="(\d+)"', filtered.get_data(as_text=True)) == [str(delivered)]
    sent = messages["sent_notification"].id
    rows = client.get(f"/dashboard/notifications?partial=1&ids={sent}").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', rows) == [str(sent)]
    for path in ("/dashboard/deliveries", "/dashboard/notifications"):
        assert 'data-live-rows="' in client.get(path).get_data(as_text=True), path
        r = client.get(f"{path}?partial=1&ids=x")
        assert r.status_code == 400 and "ids" in r.get_data(as_text=True), path
