"""Hourly rollups: the work engine adds to them as it settles events and deliveries, in the same
transaction, and the overview and its charts read them instead of counting events."""
from __future__ import annotations

from sqlalchemy import select, update

from tests.bookings import cal_booking, calendly
from tests.outbound.helpers import deliver, emit, subscribe
from tests.signing import post_cal_com, post_calendly
from vani import orgs, tenancy
from vani.dashboard import activity
from vani.dashboard.recount import recount
from vani.extensions import db
from vani.models import EventStatus, HourlyRollup, RollupMetric, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.work import rollups


def totals(metric: RollupMetric) -> dict[str, int]:
    db.session.expire_all()
    out: dict[str, int] = {}
    for row in db.session.execute(select(HourlyRollup).where(HourlyRollup.metric == metric)).scalars():
        out[row.dim] = out.get(row.dim, 0) + row.value
    return out


def test_settled_events_are_counted_as_they_settle_and_the_overview_reads_the_counts(client, run_worker, login):
    for n in range(1, 4):
        post_calendly(client, calendly("invitee.created", n))
    post_cal_com(client, cal_booking("BOOKING_CREATED", "c1"))
    waiting = post_calendly(client, calendly("invitee.created", 9)).json["event_id"]  # kept from the worker
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == waiting).values(next_attempt_at=None))
    db.session.commit()
    assert totals(RollupMetric.EVENTS) == {}
    run_worker()
    assert totals(RollupMetric.EVENTS) == {"calendly:processed": 3, "cal_com:processed": 1}
    assert sum(totals(RollupMetric.EVENT_LAG).values()) == 4  # each settled at its first attempt

    # The overview counts the rollups, not the events: a change to the stored rows alone is not seen.
    db.session.execute(update(WebhookEvent).where(WebhookEvent.status == EventStatus.PROCESSED)
                       .values(status=EventStatus.IGNORED))
    db.session.commit()
    page = login("viewer").get("/dashboard/").get_data(as_text=True)
    assert 'aria-label="Events settled per hour over the last 48 hours: 4 in total"' in page
    from vani.dashboard.overview import provider_stats

    stats = {p.name: p for p in provider_stats()}
    assert (stats["calendly"].count("processed"), stats["calendly"].count("ignored"),
            stats["calendly"].count("received")) == (3, 0, 1)
    last = db.session.execute(select(WebhookEvent.received_at).where(WebhookEvent.provider == "calendly")
                              .order_by(WebhookEvent.received_at.desc())).scalars().first()
    assert stats["calendly"].last_received_at == as_utc(last) and stats["kapso"].last_received_at is None


def test_a_recount_agrees_with_what_the_engine_counted(client, run_worker):
    for n in range(1, 4):
        post_calendly(client, calendly("invitee.created", n))
    run_worker()
    counted, lags = totals(RollupMetric.EVENTS), sum(totals(RollupMetric.EVENT_LAG).values())
    recount(tenancy.require())
    db.session.commit()
    assert totals(RollupMetric.EVENTS) == counted == {"calendly:processed": 3}
    assert sum(totals(RollupMetric.EVENT_LAG).values()) == lags == 3


def test_deliveries_count_outcomes_and_latency(app, httpserver):
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/down").respond_with_data("boom", status=500)
    subscribe(httpserver.url_for("/ok"))
    subscribe(httpserver.url_for("/down"))
    assert len(emit()) == 2
    deliver()
    assert totals(RollupMetric.DELIVERIES) == {"delivered": 1, "retrying": 1}
    assert sum(totals(RollupMetric.DELIVERY_LATENCY).values()) == 1
    hours = activity.delivery_hours(48)
    assert (sum(h.delivered for h in hours), sum(h.failed for h in hours), sum(h.gave_up for h in hours)) == (1, 1, 0)
    latency = activity.overall(activity.duration_hours(RollupMetric.DELIVERY_LATENCY))
    assert latency.count == 1 and latency.p50 is not None


def test_one_organisation_never_reads_anothers_rollups(app):
    other = orgs.create("Other team", slug="other").id
    tally = rollups.Tally()
    tally.count(other, utcnow(), RollupMetric.EVENTS, "calendly:processed", 7)
    tally.count(tenancy.require(), utcnow(), RollupMetric.EVENTS, "calendly:processed", 2)
    rollups.add(tally)
    tally = rollups.Tally()  # adding again adds up
    tally.count(other, utcnow(), RollupMetric.EVENTS, "calendly:processed", 1)
    tally.count(other, rollups.ALL_TIME, RollupMetric.PROSPECT_STAGE, "lead", 3)
    rollups.add(tally)
    db.session.commit()

    def seen() -> tuple[int, dict]:
        snap = rollups.Snapshot(utcnow())
        return sum(v for _, _, v in snap.read(RollupMetric.EVENTS, utcnow())), snap.gauge(RollupMetric.PROSPECT_STAGE)

    assert seen() == (2, {})
    with tenancy.acting_for(other):
        assert seen() == (8, {"lead": 3})


def test_percentiles_from_a_histogram():
    assert rollups.quantile({}, 0.5) is None
    histogram = {"100": 50, "250": 50}
    assert rollups.quantile(histogram, 0.5) == 100
    assert rollups.quantile(histogram, 0.95) == 100 + 150 * 0.9
    assert rollups.quantile({"inf": 3}, 0.95) == 3_600_000  # past the last bound: "more than an hour"
    assert [rollups.bucket(ms) for ms in (0, 100, 101, 4_000_000)] == ["100", "100", "250", "inf"]


def test_the_funnel_counts_prospects_as_events_create_and_move_them(client, run_worker):
    post_calendly(client, calendly("invitee.created", 1, email="ana@example.test"))
    post_calendly(client, calendly("invitee.created", 2, email="bo@example.test"))
    run_worker()
    assert totals(RollupMetric.PROSPECT_STAGE) == {"booked": 2}
    post_calendly(client, calendly("invitee.canceled", 2, email="bo@example.test", canceled_at="2026-01-03T00:00:00Z"))
    post_calendly(client, calendly("invitee.created", 2, email="bo@example.test"))  # a redelivery: counted once
    run_worker()
    assert totals(RollupMetric.PROSPECT_STAGE) == {"booked": 1, "lead": 1}
    assert {(s.stage, s.here, s.reached) for s in activity.funnel()} >= {("lead", 1, 2), ("booked", 1, 1)}
    recount(tenancy.require())
    db.session.commit()
    assert {k: v for k, v in totals(RollupMetric.PROSPECT_STAGE).items() if v} == {"booked": 1, "lead": 1}
