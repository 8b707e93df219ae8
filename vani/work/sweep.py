"""The sweep: take over rows whose worker died, and wake every lane with due rows.

The scheduler process runs it every ``VANI_SWEEP_SECONDS`` (default 5), in-process, so it needs
no worker and no queued job; a worker runs it once when it starts or gets Redis back.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from vani.extensions import db
from vani.models.base import utcnow
from vani.work import claims, wake
from vani.work.lane import installed

log = logging.getLogger(__name__)


@dataclass
class LaneSweep:
    lane: str
    taken_over: int
    due: bool
    woken: bool


def run(now: datetime | None = None) -> list[LaneSweep]:
    """Sweep every installed lane once. Database errors propagate; Redis errors only mean no
    lane was woken (``woken`` False)."""
    now = now or utcnow()
    results = []
    for lane in installed():
        try:
            taken = claims.take_over(lane, current_app.config, now)
            due = claims.is_due(lane, now)
        except Exception:
            db.session.rollback()
            raise
        results.append(LaneSweep(lane.name, len(taken), due, wake.kick(lane) if due else False))
    return results


def sweep_once(reason: str) -> None:
    """Sweep now, logging the lanes woken; a database that does not answer is logged, not raised
    (the next sweep tries again)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        woken = [s.lane for s in run() if s.woken]
        if woken:
            log.info("%s: woke %s", reason, ", ".join(woken))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("%s: the sweep could not reach the database: %s", reason, exc)


def dead_letters(org_id: int | None = None) -> dict[str, int]:
    """How many dead letters each lane holds (rows waiting for a person): one organisation's,
    or with ``org_id`` None every organisation's. One statement for every lane."""
    from sqlalchemy import func, literal, select, union_all

    lanes = installed()
    counts = []
    for lane in lanes:
        t = lane.model.__table__
        stmt = select(literal(lane.name).label("lane"), func.count().label("n")).select_from(t).where(
            t.c.status == lane.dead)
        if org_id is not None:
            stmt = stmt.where(t.c.org_id == org_id)
        counts.append(stmt)
    found = dict(db.session.execute(union_all(*counts)).all()) if counts else {}
    return {lane.name: found.get(lane.name, 0) for lane in lanes}
