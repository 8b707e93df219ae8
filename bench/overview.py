"""The overview with millions of stored events (run through ``bench.dashboard``).

``prepare`` recounts the organisation's hourly rollups from the filled events (what the work
engine would have added as it settled them), adds 30 days of delivery rollups and fills
prospects for the stage funnel; ``measure`` times the overview page through the test client
(signed in, full render: every chart and table) beside the raw counting the page did before
rollups (the same three GROUP BY queries on a raw connection). Goal: page p95 < 50 ms.
"""
from __future__ import annotations

import os
import statistics
import time

DELIVERY_ROLLUPS = """
INSERT INTO hourly_rollups (org_id, hour, metric, dim, value)
SELECT %(org)s, h, m.metric, m.dim, m.value
FROM generate_series(date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '30 days',
                     now(), interval '1 hour') AS h
CROSS JOIN (VALUES ('deliveries', 'delivered', 180), ('deliveries', 'retrying', 6), ('deliveries', 'failed', 1),
                   ('delivery_latency_ms', '100', 120), ('delivery_latency_ms', '250', 40),
                   ('delivery_latency_ms', '1000', 15), ('delivery_latency_ms', '30000', 5)) AS m(metric, dim, value)
ON CONFLICT DO NOTHING
"""

PROSPECTS = """
INSERT INTO prospects (org_id, email, name, stage, utm, owner_set_by_hand, created_at, updated_at)
SELECT %(org)s, 'bench' || i || '@example.com', 'Bench ' || i,
       (ARRAY['lead', 'lead', 'lead', 'booked', 'booked', 'met', 'no_show', 'paid'])[1 + mod(i, 8)],
       '{}', false, now() - make_interval(secs => i), now()
FROM generate_series(%(first)s, %(n)s) AS i
"""

OLD_COUNTS = [  # what the overview counted on every view before the rollups
    "SELECT provider, status, count(*) FROM webhook_events WHERE org_id = {org} "
    "AND received_at >= now() - interval '24 hours' GROUP BY provider, status",
    "SELECT date_trunc('hour', timezone('UTC', received_at)) AS h, count(*) FROM webhook_events "
    "WHERE org_id = {org} AND received_at >= date_trunc('hour', now()) - interval '47 hours' GROUP BY h",
    "SELECT date_trunc('hour', timezone('UTC', received_at)) AS h, count(*) FROM webhook_events "
    "WHERE org_id = {org} AND status = 'failed' AND received_at >= date_trunc('hour', now()) - interval '47 hours' "
    "GROUP BY h",
]


def prepare(db, org_id: int, prospects: int, filled: bool) -> None:
    """Recount the rollups when events were just filled (or none are there yet)."""
    from sqlalchemy import func, select

    from vani.dashboard.recount import recount
    from vani.models import HourlyRollup, Prospect

    if not filled and db.session.execute(select(func.count()).select_from(HourlyRollup)).scalar_one():
        db.session.commit()
        print("reusing the hourly rollups")
        return
    started = time.perf_counter()
    recount(org_id)
    db.session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(DELIVERY_ROLLUPS, {"org": org_id})
    rows = db.session.execute(select(func.count()).select_from(HourlyRollup)).scalar_one()
    print(f"recounted the hourly rollups in {time.perf_counter() - started:.1f} s: {rows:,} rows "
          f"(with 30 days of delivery rollups); the work engine keeps them as work settles")
    have = db.session.execute(select(func.count()).select_from(Prospect)).scalar_one()
    db.session.commit()
    if have < prospects:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(PROSPECTS, {"org": org_id, "first": have + 1, "n": prospects})
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE prospects")
        print(f"filled {prospects - have:,} prospects for the stage funnel")


def measure(app, client, org_id: int, events: int, runs: int) -> None:
    from bench.common import percentile, timed

    runs = max(50, runs)
    with app.app_context():
        from vani.extensions import db

        raw = db.engine.raw_connection()
    cursor = raw.cursor()

    def old_counts():
        for sql in OLD_COUNTS:
            cursor.execute(sql.format(org=org_id))
            cursor.fetchall()

    def page():
        response = client.get("/dashboard/")
        assert response.status_code == 200, response.status_code
        return response

    html = page().get_data(as_text=True)
    assert 'id="funnel-chart"' in html and 'id="latency-chart"' in html
    old = timed(old_counts, max(10, runs // 10))
    raw.close()
    load = os.getloadavg()[0]
    floor = timed(lambda: client.get("/dashboard/rejected"), runs)  # a signed-in page with little to read
    new = timed(page, runs)
    p95 = percentile(new, 95)
    print(f"\noverview at {events:,} events ({runs} runs each, load average {load:.1f} on {os.cpu_count()} cores):")
    for name, values in (("overview page (from the rollups)", new), ("floor: rejected-calls page", floor),
                         ("raw counting it replaced (SQL)", old)):
        print(f"  {name:34} p50 {statistics.median(values):7.1f} ms   p95 {percentile(values, 95):7.1f} ms")
    print(f"overview p95 under 50 ms: {'yes' if p95 < 50 else 'NO'}")
