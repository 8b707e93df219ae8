"""The overview's charts: deliveries, latency, lag and the stage funnel, drawn from the rollups,
readable without colour, with their figures in a table."""
from __future__ import annotations

from datetime import timedelta

from vani import tenancy
from vani.dashboard.chart import duration
from vani.dashboard.recount import recount
from vani.extensions import db
from vani.models import Prospect, RollupMetric
from vani.models.base import utcnow
from vani.work import rollups


def seed_rollups() -> None:
    org, now = tenancy.require(), utcnow()
    db.session.add_all([Prospect(email=f"p{i}@example.test", stage=stage)
                        for i, stage in enumerate(["lead"] * 5 + ["booked"] * 3 + ["met", "paid"])])
    recount(org)  # the funnel's gauge, for prospects made around the work engine
    tally = rollups.Tally()
    tally.count(org, now, RollupMetric.DELIVERIES, "delivered", 40)
    tally.count(org, now, RollupMetric.DELIVERIES, "retrying", 3)
    tally.count(org, now - timedelta(hours=2), RollupMetric.DELIVERIES, "failed", 2)
    for ms, n in ((80, 30), (400, 9), (20_000, 1)):
        for _ in range(n):
            tally.observe(org, now, RollupMetric.DELIVERY_LATENCY, ms / 1000)
    tally.observe(org, now - timedelta(hours=1), RollupMetric.EVENT_LAG, 0.05)
    rollups.add(tally)
    db.session.commit()


def section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    return page[start:page.index("</section>", start)]


def test_the_charts_say_what_they_show_without_colour(login):
    seed_rollups()
    page = login("viewer").get("/dashboard/").get_data(as_text=True)
    deliveries = section(page, "deliveries-chart")
    assert 'aria-label="Deliveries per hour over the last 48 hours: 40 delivered, 5 failed attempts"' in deliveries
    assert 'fill="url(#hatch-deliveries)"' in deliveries and 'id="hatch-deliveries"' in deliveries  # hatched failures
    assert "<details" in deliveries and '<td class="num">40</td>' in deliveries and '<td class="num">2</td>' in deliveries

    latency = section(page, "latency-chart")
    # 30 of 40 within 100 ms, 9 more within 500 ms: interpolated inside their buckets.
    assert "p50 <strong>67 ms</strong>" in latency and "p95 <strong>472 ms</strong>" in latency
    assert "<circle" in latency and 'class="point point-p95"><title' in latency and "<rect x=" in latency  # two shapes
    assert ">p50</text>" in latency and ">p95</text>" in latency  # each line named where it ends
    lag = section(page, "lag-chart")
    assert "<details" in lag and "1 measured" in lag

    funnel = section(page, "funnel-chart")
    assert 'aria-label="Stage funnel: lead 10, booked 5, met 2, no_show 1, paid 1"' in funnel
    assert ">10 (100%)</text>" in funnel and ">5 (50%)</text>" in funnel
    assert '<td class="num">5</td><td class="num">3</td>' in funnel  # booked: 5 reached, 3 there now


def test_an_empty_overview_draws_empty_charts_with_a_word_in_the_tables(login):
    page = login("viewer").get("/dashboard/").get_data(as_text=True)
    assert "No deliveries in these hours." in page and "Nothing measured in these hours." in page
    assert 'aria-label="Stage funnel: lead 0, booked 0, met 0, no_show 0, paid 0"' in page


def test_durations_read_as_people_say_them():
    assert [duration(v) for v in (None, 84.4, 2500, 60_000, 5_400_000)] == ["—", "84 ms", "2.5 s", "1 min", "1.5 h"]
