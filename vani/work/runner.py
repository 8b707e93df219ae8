"""The drain job: claim a lane's due rows and hand each claim to the lane's handler, until
nothing is due or the job's time budget is spent.

``drain`` is the only RQ job the engine queues (``wake.kick``). A claim whose handler raises
is failed as a whole by the retry policy; whatever a handler leaves unsettled is failed too,
so no row stays ``running`` longer than its lease. When the process is asked to stop
(``stopping``), the drain takes no new claim, and what a handler left unsettled is handed back
(due again at once, the attempt not counted) for another worker.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vani import metrics, tenancy
from vani.extensions import db
from vani.work import claims, inflight, stopping, wake
from vani.work.claims import Claim
from vani.work.lane import Lane, get

log = logging.getLogger(__name__)

UNSETTLED = "the handler did not settle this item (a bug): retried"


def run_claim(lane: Lane, claim: Claim) -> None:
    """Run the lane's handler on one claim; fail whatever it could not settle."""
    try:
        lane.handler(claim)
    except Exception as exc:  # a handler bug must not leave rows running or lose them
        log.exception("%s: the handler failed on %d item(s)", lane.name, len(claim.unsettled))
        claim.fail_rest(f"{type(exc).__name__}: {exc}")
    else:
        if claim.unsettled and stopping.requested():
            db.session.rollback()
            log.info("%s: stopping; %d item(s) handed back", lane.name, len(claim.unsettled))
            claim.release(claim.unsettled)
        elif claim.unsettled:
            claim.fail_rest(UNSETTLED)
    metrics.settled(lane.name, list(claim.settled.values()), str(lane.dead))


def one_by_one(work: Callable[[Claim, int], None]) -> Callable[[Claim], None]:
    """A lane handler that does ``work(claim, item_id)`` for each claimed row in turn, renewing
    the lease between rows, with the row's own organisation in force (for sends: one call each).
    A stop leaves the rows not begun unsettled: the runner hands them back."""

    @functools.wraps(work)  # the lane's handler is still the service's own work
    def handler(claim: Claim) -> None:
        t = claim.lane.model.__table__
        orgs = dict(db.session.execute(select(t.c.id, t.c.org_id).where(t.c.id.in_(claim.ids))).all())
        db.session.rollback()
        for item_id in claim.ids:
            if stopping.requested():
                return
            claim.renew()
            if item_id in orgs:
                with tenancy.acting_for(orgs[item_id]):
                    work(claim, item_id)

    return handler


def in_flight(prepare: Callable[[Claim, int], tuple[Callable[[], Any], Any] | None],
              record: Callable[[Claim, int, Any, Future], None], key: tuple[str, ...],
              per_key: Callable[[Mapping], int]) -> Callable[[Claim], None]:
    """A lane handler like ``one_by_one``, with many calls in flight at once (``inflight.run``).
    For each claimed row, in order, ``prepare(claim, id)`` (claiming thread, the row's own
    organisation in force: read, mark as started, commit) returns the call and a note for
    ``record``, or None when the row needs no call (it settled it); the call runs on a send
    thread; ``record(claim, id, note, future)`` (claiming thread, organisation in force) writes
    its outcome. Rows sharing the values of the ``key`` columns have at most ``per_key(config)``
    calls in flight, begun in claim order. A stop begins nothing more: the rows not begun are
    left unsettled, and the runner hands them back."""

    @functools.wraps(prepare)  # the lane's handler is still the service's own work
    def handler(claim: Claim) -> None:
        t = claim.lane.model.__table__
        found = db.session.execute(select(t.c.id, t.c.org_id, *(t.c[name] for name in key))
                                   .where(t.c.id.in_(claim.ids))).all()
        db.session.rollback()
        rows = {row[0]: (row[1], tuple(row[2:])) for row in found}
        notes: dict[int, Any] = {}

        def between() -> bool:
            claim.renew()
            return not stopping.requested()

        def begin(item_id: int) -> Callable[[], Any] | None:
            with tenancy.acting_for(rows[item_id][0]):
                prepared = prepare(claim, item_id)
            if prepared is None:
                return None
            call, notes[item_id] = prepared
            return call

        def finish(item_id: int, future: Future) -> None:
            with tenancy.acting_for(rows[item_id][0]):
                record(claim, item_id, notes.pop(item_id), future)

        inflight.run([i for i in claim.ids if i in rows], key=lambda i: rows[i][1], begin=begin, finish=finish,
                     between=between, per_key=per_key(current_app.config))

    return handler


def drain(lane_name: str, slot: int = 0) -> int:
    """RQ job: work through ``lane``'s due rows. Returns how many were claimed."""
    lane = get(lane_name)
    budget = float(current_app.config.get("VANI_DRAIN_SECONDS", 60))
    started = time.monotonic()
    total = 0
    try:
        while time.monotonic() - started < budget and not stopping.requested():
            wake.hold(lane, slot)
            claim = claims.claim(lane, current_app.config)
            if claim is None:
                wake.release(lane, slot)
                # Stored after our empty claim, it found our flag set and queued nothing.
                if claims.is_due(lane):
                    continue
                return total
            if len(claim.ids) >= lane.batch_size(current_app.config) and slot + 1 < lane.parallel:
                wake.kick(lane, slot + 1)  # a backlog: let another worker help
            claim.on_renew = lambda: wake.hold(lane, slot)
            run_claim(lane, claim)
            total += len(claim.ids)
        wake.release(lane, slot)
        wake.kick(lane, slot)  # budget spent or stopping: a fresh job continues (here or elsewhere)
        return total
    except SQLAlchemyError:
        db.session.rollback()
        wake.release(lane, slot)
        raise


def run_inline(lane: Lane, ids: list[int]) -> int:
    """Claim and run these due rows now, in this process (when no worker can be reached)."""
    claim = claims.claim(lane, current_app.config, ids=ids, limit=len(ids))
    if claim is None:
        return 0
    run_claim(lane, claim)
    return len(claim.ids)
