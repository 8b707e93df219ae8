"""Claims: leases, fencing tokens, takeover of a dead worker's rows, and the wake flags."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import insert, select, update

from tests.bookings import calendly
from tests.outbound.helpers import attempts, delivery, emit, subscribe
from tests.signing import post_calendly
from vani.extensions import db
from vani.models import DeliveryStatus, EventStatus, HourlyRollup, ProcessHeartbeat, RollupMetric, WebhookEvent
from vani.models.base import as_utc, utcnow
from vani.outbound.delivery_lane import DELIVERIES
from vani.processing.events import EVENTS
from vani.work import claims, runner, stopping, sweep, wake


def stored_events(client, n: int, first: int = 0) -> list[int]:
    return [post_calendly(client, calendly("invitee.created", i, email=f"p{i}@example.test")).json["event_id"]
            for i in range(first, first + n)]


def rollup_totals(metric: RollupMetric) -> dict[str, int]:
    rows = db.session.execute(select(HourlyRollup.dim, HourlyRollup.value).where(HourlyRollup.metric == metric))
    out: dict[str, int] = {}
    for dim, value in rows:
        out[dim] = out.get(dim, 0) + value
    return out


def test_a_claim_leases_its_rows_with_one_token_and_another_claim_skips_them(app, client):
    ids = stored_events(client, 3)
    first = claims.claim(EVENTS, app.config, limit=2)
    assert first.ids == ids[:2]
    second = claims.claim(EVENTS, app.config)
    assert second.ids == ids[2:] and second.token != first.token
    assert claims.claim(EVENTS, app.config) is None
    rows = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars().all()
    assert [r.status for r in rows] == [EventStatus.PROCESSING] * 3
    assert [r.lease_token for r in rows] == [first.token, first.token, second.token]
    lease = as_utc(rows[0].lease_expires_at) - utcnow()
    assert timedelta(seconds=13) < lease <= timedelta(seconds=15)


def test_a_stale_owner_changes_nothing(app, client, caplog):
    [event_id] = stored_events(client, 1)
    stale = claims.claim(EVENTS, app.config)
    later = utcnow() + timedelta(seconds=16)
    assert claims.take_over(EVENTS, app.config, now=later) == [event_id]  # its lease ran out
    fresh = claims.claim(EVENTS, app.config, now=later)
    assert fresh.ids == [event_id]
    assert fresh.write([(event_id, EventStatus.PROCESSED, {"outcome": "by the new owner"})]) == {event_id: True}
    db.session.commit()
    # The first worker wakes up and writes its outcome: nothing changes, and it is logged.
    assert stale.write([(event_id, EventStatus.IGNORED, {"outcome": "by the stale owner"})]) == {event_id: False}
    assert stale.fail(event_id, "boom") is None
    db.session.commit()
    event = db.session.get(WebhookEvent, event_id, populate_existing=True)
    assert (event.status, event.outcome, event.attempts) == (EventStatus.PROCESSED, "by the new owner", 2)
    assert "lease was lost" in caplog.text


def test_outcomes_are_written_fenced_and_in_one_statement_per_shape(app, client):
    """Several outcomes of one shape go in one UPDATE (on PostgreSQL, one array per column), and
    the answer says which were written: a row another worker took is left as that worker has it."""
    from sqlalchemy import event

    ids = stored_events(client, 4)
    mine = claims.claim(EVENTS, app.config)
    later = utcnow() + timedelta(seconds=1)  # the other rows' leases run for 15 s
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == ids[3]).values(lease_expires_at=utcnow()))
    db.session.commit()
    assert claims.take_over(EVENTS, app.config, now=later) == [ids[3]]
    other = claims.claim(EVENTS, app.config, now=later)
    assert other.ids == [ids[3]]
    statements = []
    listen = lambda conn, cursor, sql, *rest: statements.append(sql)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        written = mine.write([(i, EventStatus.PROCESSED, {"outcome": f"done {i}"}) for i in ids])
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    db.session.commit()
    assert written == {ids[0]: True, ids[1]: True, ids[2]: True, ids[3]: False}
    updates = [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE WEBHOOK_EVENTS")]
    assert len(updates) == (1 if db.engine.dialect.name == "postgresql" else 2)  # SQLite locks its rows first
    rows = db.session.execute(select(WebhookEvent.id, WebhookEvent.status, WebhookEvent.outcome, WebhookEvent.lease_token)
                              .where(WebhookEvent.id.in_(ids)).order_by(WebhookEvent.id)).all()
    assert [tuple(r)[1:] for r in rows[:3]] == [(EventStatus.PROCESSED, f"done {i}", None) for i in ids[:3]]
    assert (rows[3].status, rows[3].lease_token) == (EventStatus.PROCESSING, other.token)


def test_a_value_too_long_for_its_column_is_refused_not_cut(app, client, caplog):
    """The database's refusal of one outcome fails that row alone, with the reason; the array
    statement never shortens a value to fit (on SQLite, which keeps any length, it is stored)."""
    ids = stored_events(client, 2)
    claim = claims.claim(EVENTS, app.config)
    written = claim.write([(ids[0], EventStatus.PROCESSED, {"subject_ref": "r" * 300, "outcome": "long"}),
                           (ids[1], EventStatus.PROCESSED, {"subject_ref": "short", "outcome": "fine"})])
    db.session.commit()
    assert written == {ids[0]: True, ids[1]: True}
    rows = {r.id: r for r in db.session.execute(select(WebhookEvent).where(WebhookEvent.id.in_(ids))).scalars()}
    assert (rows[ids[1]].status, rows[ids[1]].subject_ref) == (EventStatus.PROCESSED, "short")
    if db.engine.dialect.name == "postgresql":
        assert rows[ids[0]].status == EventStatus.FAILED and rows[ids[0]].subject_ref is None
        assert rows[ids[0]].outcome.startswith("could not record the outcome processed")
    else:
        assert rows[ids[0]].subject_ref == "r" * 300


def test_a_takeover_before_the_lease_ends_takes_nothing(app, client):
    stored_events(client, 1)
    claims.claim(EVENTS, app.config)
    assert claims.take_over(EVENTS, app.config) == []
    assert claims.take_over(EVENTS, app.config, now=utcnow() + timedelta(seconds=14)) == []


def test_a_row_taken_over_too_often_becomes_a_dead_letter(app, client):
    app.config["VANI_EVENT_MAX_ATTEMPTS"] = 2
    [event_id] = stored_events(client, 1)
    now = utcnow()
    for round_ in range(2):
        now += timedelta(seconds=20)
        assert claims.claim(EVENTS, app.config, now=now).ids == [event_id]
        now += timedelta(seconds=20)
        assert claims.take_over(EVENTS, app.config, now=now) == [event_id]
    event = db.session.get(WebhookEvent, event_id, populate_existing=True)
    assert event.status == EventStatus.DEAD and "lease ran out" in event.outcome
    # Each takeover is an attempt that ended, and the overview's counts hold both.
    assert rollup_totals(RollupMetric.EVENTS) == {"calendly:failed": 1, "calendly:dead": 1}


def test_a_delivery_taken_over_records_the_lost_attempt(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    claims.claim(DELIVERIES, app.config)
    later = utcnow() + timedelta(seconds=app.config["VANI_DELIVERY_TIMEOUT_SECONDS"] + 6)
    assert claims.take_over(DELIVERIES, app.config, now=later) == [delivery_id]
    d = delivery(delivery_id)
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1 and "lease ran out" in d.last_error
    assert [a.trigger for a in attempts(delivery_id)] == ["lost"]
    assert rollup_totals(RollupMetric.DELIVERIES) == {"retrying": 1}


def test_released_rows_are_due_again_with_their_attempt_not_counted(app, client):
    ids = stored_events(client, 2)
    claim = claims.claim(EVENTS, app.config)
    claim.release(ids)
    rows = [db.session.get(WebhookEvent, i, populate_existing=True) for i in ids]
    assert [(r.status, r.attempts, r.lease_token) for r in rows] == [(EventStatus.RECEIVED, 0, None)] * 2
    assert claims.claim(EVENTS, app.config).ids == ids


def test_a_handler_that_raises_fails_its_whole_claim_by_the_policy(app, client):
    ids = stored_events(client, 2)
    claim = claims.claim(EVENTS, app.config)
    runner.run_claim(dataclasses.replace(EVENTS, handler=lambda c: 1 / 0), claim)
    rows = [db.session.get(WebhookEvent, i, populate_existing=True) for i in ids]
    assert [(r.status, r.outcome) for r in rows] == [(EventStatus.FAILED, "ZeroDivisionError: division by zero")] * 2
    assert all(r.lease_token is None and r.next_attempt_at is not None for r in rows)


def test_a_stop_during_a_claim_hands_back_the_rows_not_begun(app, client):
    """A one-by-one handler stops between rows when the process is asked to stop; the runner
    hands what it did not begin back (due now, attempt not counted) instead of failing it, and
    the drain takes no new claim."""
    ids = stored_events(client, 3)
    done = []

    def work(claim, item_id):
        claim.done(item_id, EventStatus.IGNORED, outcome="handled")
        db.session.commit()
        done.append(item_id)
        stopping.request()  # SIGTERM arrives while the first row is in hand

    try:
        claim = claims.claim(EVENTS, app.config)
        runner.run_claim(dataclasses.replace(EVENTS, handler=runner.one_by_one(work)), claim)
        assert runner.drain(EVENTS.name) == 0  # stopping: no new claim
    finally:
        stopping.clear()
    rows = [db.session.get(WebhookEvent, i, populate_existing=True) for i in ids]
    assert done == ids[:1]
    assert [(r.status, r.attempts, r.lease_token) for r in rows] == [
        (EventStatus.IGNORED, 1, None), (EventStatus.RECEIVED, 0, None), (EventStatus.RECEIVED, 0, None)]


def test_the_wake_flag_lives_one_lease_and_goes_when_the_drain_ends(app, client, redis_client, run_worker):
    stored_events(client, 1)  # ingest kicked the lane: a drain job is queued, its flag set
    ttl = wake.flag_ttl_ms(EVENTS)
    assert ttl is not None and 0 < ttl <= 15_000  # a job that dies leaves it for one lease at most
    stored_events(client, 2, first=1)
    assert wake.get_queue(wake.queue_name(EVENTS)).count == 1  # one drain job, not one per event
    run_worker()
    assert wake.flag_ttl_ms(EVENTS) is None
    assert db.session.execute(select(WebhookEvent.status)).scalars().all() == [EventStatus.PROCESSED] * 3


def test_the_sweep_wakes_only_lanes_with_due_work(app, client, redis_client):
    stored_events(client, 1)
    redis_client.flushdb()  # Redis came back empty: the event is stored, nobody is queued
    results = {s.lane: s for s in sweep.run()}
    assert results["events"].due and results["events"].woken
    assert not results["deliveries"].due and not results["deliveries"].woken
    assert wake.flag_ttl_ms(EVENTS) is not None


def test_a_claim_of_a_process_whose_heartbeat_went_silent_is_taken_over_at_once(app, client):
    """Killed processes leave their heartbeat row: three missed beats and the next sweep takes their
    rows over, long before the leases would run out; a live process's rows stay its own."""
    from vani.models import ProcessRole
    from vani.work import heartbeat

    app.config["VANI_HEARTBEAT_SECONDS"] = 2
    dead_id, live_id = stored_events(client, 2)
    with heartbeat.running(ProcessRole.WORKER, ["vani-events"]) as dying:
        killed = claims.claim(EVENTS, app.config, ids=[dead_id])
        owner = dying.row_id
    db.session.execute(insert(ProcessHeartbeat).values(  # as a SIGKILL leaves it: the row stays
        id=owner, role=ProcessRole.WORKER, host="host-a", pid=4242, lanes=[], version="test",
        started_at=utcnow(), last_beat=utcnow() - timedelta(seconds=3)))
    db.session.commit()
    with heartbeat.running(ProcessRole.WORKER, ["vani-events"]):
        alive = claims.claim(EVENTS, app.config, ids=[live_id])
        assert claims.take_over(EVENTS, app.config) == []  # one beat late: not yet
        db.session.execute(update(ProcessHeartbeat).where(ProcessHeartbeat.id == owner)
                           .values(last_beat=utcnow() - timedelta(seconds=7)))
        db.session.commit()
        assert claims.take_over(EVENTS, app.config) == [dead_id]  # three missed; the lease still runs
    assert killed.ids == [dead_id] and alive.ids == [live_id]
    event = db.session.get(WebhookEvent, dead_id, populate_existing=True)
    assert event.status == EventStatus.FAILED and "heartbeat stopped" in event.outcome
    assert event.lease_owner is None and event.lease_token is None
    assert db.session.get(WebhookEvent, live_id, populate_existing=True).status == EventStatus.PROCESSING
