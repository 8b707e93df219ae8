"""Running a lane's work in the test process, the way a drain job does, with an injectable clock."""
from __future__ import annotations

import random
from datetime import datetime

from flask import current_app

from vani import tenancy
from vani.work import claims, runner
from vani.work.lane import Lane


def drain(lane: Lane, now: datetime | None = None, rng: random.Random | None = None) -> int:
    """Claim and run ``lane``'s due rows (as of ``now``) until none is left; how many were claimed.
    Like a worker, it runs with no organisation in force (a claim spans organisations)."""
    total = 0
    with tenancy.acting_for(None):
        while True:
            claim = claims.claim(lane, current_app.config, now)
            if claim is None:
                return total
            claim.rng = rng
            runner.run_claim(lane, claim)
            total += len(claim.ids)


def woken(lane_name: str, now: datetime | None = None) -> bool:
    """Run the sweep; True when it woke ``lane_name`` (it had due work and Redis took the kick)."""
    from vani.work import sweep

    return next(s for s in sweep.run(now) if s.lane == lane_name).woken


def process_events() -> None:
    """Run the events lane until it is empty: every stored event mapped."""
    from vani.processing.events import EVENTS

    drain(EVENTS)
