"""Dashboard events page with a million stored events (PostgreSQL).

Fills a scratch database with ``--events`` rows in one ``INSERT … SELECT generate_series``, then
times, through the Flask test client with a signed-in user, the first events page, a filtered
page, a search and a deep page (a keyset cursor half-way down), and in the same run the bare SQL
keyset query behind each (the same statement, executed on a raw psycopg connection). Prints
p50/p95 for both and their ratio. Goal: page p95 < 100 ms and page ≤ 3 × query.

Then the overview (``bench.overview``): its hourly rollups recounted from the filled events,
prospects for the stage funnel, and the page timed beside the raw counting it replaced.
Goal: overview p95 < 50 ms at 10 M events.

    python -m bench.dashboard                 # fill vani_bench3 (dropped first) and measure
    python -m bench.dashboard --reuse         # measure again without refilling
    python -m bench.dashboard --overview-only --database vani_bench_ov                      # 1 M events
    python -m bench.dashboard --overview-only --database vani_bench_ov --reuse --events 10000000  # add 9 M
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import overview as overview_bench  # noqa: E402
from bench.common import percentile, timed  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

FILL_SQL = """
INSERT INTO webhook_events (org_id, provider, event_type, dedupe_key, verified, status, body, headers, payload,
                            remote_addr, received_at, processed_at, attempts, outcome, subject_email, subject_ref)
SELECT %(org)s,
       p.provider,
       p.types[1 + mod(i, array_length(p.types, 1))],
       'bench:' || i,
       mod(i, 50) <> 0,
       CASE WHEN i > %(n)s - 200 AND mod(i, 4) = 0 THEN 'received'  -- a small backlog, of the newest
            WHEN mod(i, 100) < 86 THEN 'processed' WHEN mod(i, 100) < 95 THEN 'ignored' ELSE 'failed' END,
       convert_to('{"event":"invitee.created","n":' || i || ',"payload":{"email":"user' || mod(i, 50000)
                  || '@example.com","name":"Bench User","uri":"https://api.example.com/invitees/' || i || '"}}', 'UTF8'),
       jsonb_build_object('Content-Type', 'application/json', 'User-Agent', 'bench'),
       jsonb_build_object('event', 'invitee.created', 'n', i,
                          'payload', jsonb_build_object('email', 'user' || mod(i, 50000) || '@example.com',
                                                        'name', 'Bench User',
                                                        'uri', 'https://api.example.com/invitees/' || i)),
       '203.0.113.' || mod(i, 250),
       now() - make_interval(secs => (%(n)s - i) * %(spacing)s),
       CASE WHEN mod(i, 100) < 95 AND NOT (i > %(n)s - 200 AND mod(i, 4) = 0)
            THEN now() - make_interval(secs => (%(n)s - i) * %(spacing)s - mod(i, 997) / 100.0) END,
       1,
       CASE WHEN mod(i, 100) >= 95 THEN 'KeyError: ''attendees''' END,
       'user' || mod(i, 50000) || '@example.com',
       'https://api.example.com/invitees/' || i
FROM generate_series(%(first)s, %(n)s) AS i
CROSS JOIN LATERAL (
  SELECT (ARRAY['calendly', 'calendly', 'cal_com', 'kapso', 'twilio'])[1 + mod(i, 5)] AS provider,
         CASE mod(i, 5) WHEN 2 THEN ARRAY['BOOKING_CREATED', 'BOOKING_CANCELLED', 'MEETING_ENDED']
                      WHEN 3 THEN ARRAY['whatsapp.message.received', 'whatsapp.message.delivered']
                      WHEN 4 THEN ARRAY['message', 'status.delivered']
                      ELSE ARRAY['invitee.created', 'invitee.canceled'] END AS types
) AS p
"""


def database_url(name: str) -> str:
    return urlparse(PG_ADMIN)._replace(path=f"/{name}").geturl()


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def make_app(url: str):
    import fakeredis

    from bench.common import BENCH_ENCRYPTION_KEY, BENCH_SECRET_KEY
    from vani import create_app

    return create_app({"VANI_ENV": "production", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": BENCH_SECRET_KEY,
                       "VANI_ENCRYPTION_KEYS": BENCH_ENCRYPTION_KEY,
                       "REDIS_CLIENT": fakeredis.FakeRedis(), "WTF_CSRF_ENABLED": False,
                       "SESSION_COOKIE_SECURE": False, "PUBLIC_URL": "https://vani.example.com"})


def fill(db, n: int, org_id: int, have: int = 0) -> float:
    """Add events ``have + 1`` … ``n`` of the organisation, spread over the last 30 days. Past a
    million rows the table's secondary indexes are dropped first and built again after (one
    sort each instead of ten million index insertions)."""
    from sqlalchemy import text

    from vani.models import WebhookEvent

    spacing = 30 * 24 * 3600 / n  # spread over the last 30 days
    rebuild = n - have > 1_000_000
    indexes = list(WebhookEvent.__table__.indexes) if rebuild else []
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        for index in indexes:
            index.drop(conn)
        conn.exec_driver_sql(FILL_SQL, {"first": have + 1, "n": n, "spacing": spacing, "org": org_id})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            index.create(conn)
        conn.exec_driver_sql("VACUUM ANALYZE webhook_events")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database", default="vani_bench3")
    parser.add_argument("--reuse", action="store_true", help="keep the filled database from a previous run")
    parser.add_argument("--overview-only", action="store_true",
                        help="measure only the overview (rollups recounted after a fill, prospects for the funnel)")
    parser.add_argument("--no-settle", action="store_true",
                        help="leave the loaded app in the collector's sight (see vani.heap)")
    parser.add_argument("--prospects", type=int, default=100_000, help="prospects for the stage funnel")
    parser.add_argument("--other-orgs", type=int, default=0,
                        help="also fill this many other organisations with as many events (sharing the table)")
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from vani import orgs, tenancy
    from vani.dashboard.events import EventFilters, list_statement
    from vani.extensions import db
    from vani.models import Membership, User, WebhookEvent
    from vani.models.paging import encode_cursor

    if not args.reuse:
        recreate_database(args.database)
    url = database_url(args.database)
    app = make_app(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with app.app_context():
        db.create_all()
        measured = orgs.ensure_default().id
        existing = {o.slug: o.id for o in orgs.all_orgs()}
        targets = [measured] + [existing.get(f"other-{i}") or orgs.create(f"Other {i}", f"other-{i}").id
                                for i in range(args.other_orgs)]
        filled = False
        for org_id in targets:
            have = db.session.execute(select(func.count()).select_from(WebhookEvent).where(
                WebhookEvent.org_id == org_id).execution_options(unscoped=True)).scalar_one()
            db.session.commit()  # no open snapshot: VACUUM must be able to mark the new rows all-visible
            if have < args.events:
                seconds, filled = fill(db, args.events, org_id, have), True
                print(f"filled {args.events - have:,} events of organisation {org_id} in {seconds:.1f} s "
                      f"({(args.events - have) / seconds:,.0f} rows/s, INSERT … SELECT generate_series + ANALYZE)")
            else:
                print(f"reusing {have:,} stored events of organisation {org_id}")
        tenancy.set_current(measured)
        have = args.events
        overview_bench.prepare(db, measured, args.prospects, filled)
        if db.session.execute(select(User).where(User.email == "bench@example.com")).scalar_one_or_none() is None:
            user = User(email="bench@example.com")
            user.set_password("bench-password")
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, org_id=measured, role="viewer"))
            db.session.commit()
        limit = app.config["VANI_DASHBOARD_PAGE_SIZE"]
        middle = db.session.execute(
            select(WebhookEvent.received_at, WebhookEvent.id)
            .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).offset(have // 2 or args.events // 2)
            .limit(1)).one()
        cursor = encode_cursor(middle.received_at, middle.id)
        email = "user4242@example.com"
        day = (middle.received_at - timedelta(days=3)).date().isoformat()
        scenarios = [
            ("first page", "/dashboard/events", {}),
            ("filtered (cal_com, failed)", "/dashboard/events?provider=cal_com&status=failed", {}),
            ("type + date range", f"/dashboard/events?type=BOOKING_CREATED&from={day}&to={day}", {}),
            ("search by email", f"/dashboard/events?q={email}", {}),
            ("deep page (cursor at 50%)", f"/dashboard/events?cursor={cursor}", {"cursor": cursor}),
            ("deep + filtered", f"/dashboard/events?status=failed&cursor={cursor}", {"cursor": cursor}),
        ]
        raw = db.engine.raw_connection()
        sql_cursor = raw.cursor()

    client = app.test_client()
    r = client.post("/dashboard/login", data={"email": "bench@example.com", "password": "bench-password"})
    assert r.status_code == 302, r.status_code
    if not args.no_settle:  # as a gunicorn worker does once its app is loaded (post_worker_init)
        from vani import heap

        heap.settle()

    if args.overview_only:
        overview_bench.measure(app, client, measured, args.events, args.runs)
        return 0
    floor = timed(lambda: client.get("/healthz"), args.runs)
    print(f"\n{args.runs} runs each, page = GET through the test client (signed in, full HTML render);")
    print("query = the same keyset SELECT on a raw psycopg connection.")
    print(f"floor: GET /healthz (no database, no template) p50 {statistics.median(floor):.2f} ms\n")
    header = f"{'scenario':30} {'query p50':>10} {'query p95':>10} {'page p50':>10} {'page p95':>10} {'ratio p50':>10} {'ratio p95':>10}"
    print(header)
    print("-" * len(header))
    ok = True
    for name, path, params in scenarios:
        with app.test_request_context(path):
            from flask import request

            filters = EventFilters.from_args(request.args)
            stmt = list_statement(filters, params.get("cursor"), limit).where(WebhookEvent.org_id == measured)
            compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
            sql = str(compiled)

        def query(sql=sql):
            sql_cursor.execute(sql)
            rows = sql_cursor.fetchall()
            assert rows

        def page(path=path):
            response = client.get(path)
            assert response.status_code == 200, response.status_code
            return response

        assert "data-id=" in page().get_data(as_text=True)
        q = timed(query, args.runs)
        p = timed(page, args.runs)
        q50, q95, p50, p95 = (statistics.median(q), percentile(q, 95), statistics.median(p), percentile(p, 95))
        ok &= p95 < 100
        print(f"{name:30} {q50:8.2f}ms {q95:8.2f}ms {p50:8.2f}ms {p95:8.2f}ms {p50 / q50:9.1f}x {p95 / q95:9.1f}x")
    raw.close()
    overview_bench.measure(app, client, measured, args.events, args.runs)
    print(f"events page p95 under 100 ms in every scenario: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
