"""Keyset pages through the dashboard lists (every row once, filters kept), times in the
organisation's time zone with UTC on hover, and the chart's hours with their UTC instants."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.web.seed import add_event, seed_outbound
from vani.extensions import db
from vani.models import RejectedCall
from vani.models.base import utcnow


def _walk(client, path: str, pages: int = 10) -> tuple[list[str], list[str]]:
    """Follow the "Older" links from ``path``; returns the row ids seen and the URLs visited."""
    seen, visited = [], []
    url = path
    for _ in range(pages):
        visited.append(url)
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r'<tr data-id="(\d+)"', html)
        match = re.search(r'href="([^"]+)" rel="next"', html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    return seen, visited


def test_events_pages_cover_every_row_once_newest_first_and_keep_the_filters(app, login):
    app.config["VANI_DASHBOARD_PAGE_SIZE"] = 2
    now = utcnow()
    same_time = now - timedelta(minutes=30)  # ties on the timestamp are ordered by id
    ids = [add_event(received_at=same_time if i in (2, 3, 4) else now - timedelta(minutes=i)).id for i in range(7)]
    add_event(provider="cal_com", event_type="BOOKING_CREATED", received_at=now)  # filtered out below
    client = login("viewer")
    seen, visited = _walk(client, "/dashboard/events?provider=calendly")
    assert sorted(map(int, seen)) == sorted(ids) and len(seen) == len(set(seen)) == 7
    expected = [0, 1, 5, 6, 4, 3, 2]  # by time, newest first; equal times by id, highest first
    assert [int(x) for x in seen] == [ids[i] for i in expected]
    assert len(visited) == 4 and all("provider=calendly" in url for url in visited[1:])
    last = client.get(visited[-1]).get_data(as_text=True)
    assert 'rel="next"' not in last and "Newest" in last
    assert 'data-live-src' not in last.partition("<main")[2]  # only the first page refreshes itself


def test_deliveries_and_rejected_calls_page_too(app, login):
    app.config["VANI_DASHBOARD_PAGE_SIZE"] = 1
    out = seed_outbound()
    now = utcnow()
    for i in range(3):
        db.session.add(RejectedCall(provider="calendly", reason="invalid_signature", body_size=i,
                                    created_at=now - timedelta(minutes=i)))
    db.session.commit()
    client = login("viewer")
    seen, _ = _walk(client, "/dashboard/deliveries")
    assert seen == [str(out["failed"].id), str(out["delivered"].id)]
    _, visited = _walk(client, "/dashboard/rejected")
    assert len(visited) == 3


@pytest.mark.parametrize("path", ["/dashboard/events", "/dashboard/deliveries", "/dashboard/rejected",
                                  "/dashboard/prospects", "/dashboard/meetings", "/dashboard/notifications",
                                  "/dashboard/messages"])
def test_a_cursor_that_was_not_given_out_is_a_clear_400(login, path):
    r = login("viewer").get(f"{path}?cursor=bm90LWEtY3Vyc29y")
    assert r.status_code == 400 and "cursor: not a cursor this API returned" in r.get_data(as_text=True)


def test_times_are_utc_in_markup_for_the_organisations_zone_with_utc_on_hover(login):
    event = add_event()
    html = login("viewer").get("/dashboard/events").get_data(as_text=True)
    stamp = event.received_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert re.search(rf'<time datetime="{stamp}" title="[^"]+ UTC" data-zone="UTC">', html)


def test_chart_hours_carry_their_utc_instant_for_local_labels(login):
    add_event(status="failed", received_at=utcnow() - timedelta(hours=3))
    html = login("viewer").get("/dashboard/").get_data(as_text=True)
    events_chart = html.partition('<svg class="chart"')[2].partition("</svg>")[0]
    hours = re.findall(r'data-hour="(\d{4}-\d\d-\d\dT\d\d:00:00Z)"', events_chart)
    assert len(hours) == 8  # a label every 6 hours over 48 hours
    assert re.search(r'<title data-at="[^"]+Z" data-rest="0 events">', events_chart)  # each hour: UTC instant, counts
    assert '<span class="tz-name">UTC</span>' in html  # the organisation's zone (none set: UTC)
