"""The dashboard shows times in the organisation's time zone, the zone named, with the UTC
instant in the markup and on hover; UTC when the organisation has none."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from tests import bookings as bs
from tests.bookings import calendly, invitee_uri
from tests.prospects.helpers import calendly as deliver
from tests.prospects.helpers import set_timezone
from tests.web.seed import add_event
from vani import tenancy
from vani.models.base import utcnow

START = '<time datetime="2026-01-05T10:00:00Z" title="2026-01-05 10:00:00 UTC" data-zone="{zone}">{text}</time>'


def test_meeting_and_prospect_pages_show_the_organisations_time(client, run_worker, login):
    set_timezone(tenancy.require(), "Europe/Berlin")
    deliver(client, run_worker, calendly("invitee.created"))
    m = bs.meeting("calendly", invitee_uri(1))
    viewer = login("viewer")
    expected = START.format(zone="Europe/Berlin", text="2026-01-05 11:00:00 CET")
    assert expected in viewer.get(f"/dashboard/meetings/{m.id}").get_data(as_text=True)
    assert "Calendly meeting scheduled for 2026-01-05 11:00 CET" in viewer.get(
        f"/dashboard/prospects/{m.prospect_id}").get_data(as_text=True)
    assert expected in viewer.get("/dashboard/meetings").get_data(as_text=True)


def test_an_organisation_without_a_time_zone_sees_utc(client, run_worker, login):
    set_timezone(tenancy.require(), "")
    deliver(client, run_worker, calendly("invitee.created"))
    m = bs.meeting("calendly", invitee_uri(1))
    page = login("viewer").get(f"/dashboard/meetings/{m.id}").get_data(as_text=True)
    assert START.format(zone="UTC", text="2026-01-05 10:00:00 UTC") in page


def test_each_organisation_sees_its_own_zone(app, login):
    from vani import orgs

    tokyo = orgs.create("Tokyo Sales", slug="tokyo", timezone="Asia/Tokyo").id
    with tenancy.acting_for(tokyo):
        event = add_event(received_at=datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc))
        html = login("viewer", org_id=tokyo).get("/dashboard/events").get_data(as_text=True)
    assert re.search(r'<time datetime="2026-03-01T15:30:00Z" title="2026-03-01 15:30:00 UTC" '
                     r'data-zone="Asia/Tokyo">2026-03-02 00:30:00 JST</time>', html), event.id


def test_the_chart_labels_hours_in_the_organisations_zone(login):
    set_timezone(tenancy.require(), "Asia/Kolkata")
    add_event(received_at=utcnow())
    html = login("viewer").get("/dashboard/").get_data(as_text=True)
    assert '<svg class="chart" data-zone="Asia/Kolkata"' in html
    assert '<span class="tz-name">IST</span>' in html
    labels = re.findall(r'data-hour="[^"]+"\s+text-anchor="middle">(\d\d:\d\d)</text>', html)
    assert len(labels) == 8 * 4 and {label[3:] for label in labels} == {"30"}  # UTC+05:30, in every hourly chart
    assert re.search(r'<title data-at="[^"]+Z" data-rest="[^"]+">\d{4}-\d\d-\d\d \d\d:30 IST: ', html)
