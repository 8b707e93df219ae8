"""A lane: one kind of durable work (a table whose rows the engine claims) and what does it.

Each lane is defined beside the service that does its work and listed once in ``vani.lanes``;
``create_app`` installs them. The engine knows a lane's table only through the roles its
states play here, so every lane claims, leases, retries and dead-letters the same way.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app

from vani.work.policy import RetryPolicy


@dataclass(frozen=True, eq=False)
class Lane:
    name: str
    model: Any                                  # the model whose rows are the items
    ready: tuple[enum.StrEnum, ...]             # states a due row is claimed from
    running: enum.StrEnum                       # claimed, with a lease
    retry: enum.StrEnum                         # failed; waits for next_attempt_at
    dead: enum.StrEnum                          # the dead letter: waits for a person
    handler: Callable[[Any], None]              # does the work of one claim (a ``claims.Claim``)
    policy: Callable[[Mapping], RetryPolicy]    # from the app config
    lease: Callable[[Mapping], timedelta]       # how long a claim holds its rows unless renewed
    batch: int | Callable[[Mapping], int] = 100  # rows per claim (or from the app config)
    parallel: int = 2                           # drain jobs that may run at once
    error_column: str = "last_error"
    claim_values: Callable[[datetime], dict] = field(default=lambda now: {})
    # Rows where this is true may have reached a person or provider before their worker
    # died: a takeover makes them dead letters instead of sending them again (at most once).
    unsure: Callable[[Any], Any] | None = None
    # Called with the ids a takeover found abandoned (in the takeover's transaction).
    on_lost: Callable[[list[int], datetime], None] | None = None
    # An extra condition on the table a row must meet to be claimed (e.g. its subscription is on).
    claimable: Callable[[Any], Any] | None = None
    # Called with the claim and the (id, state) of the rows it just settled, in the same
    # transaction: where a lane adds to the hourly rollups (``vani.work.rollups``).
    on_settle: Callable[[Any, list[tuple[int, Any]]], None] | None = None

    def batch_size(self, cfg: Mapping) -> int:
        return max(int(self.batch(cfg) if callable(self.batch) else self.batch), 1)

    @property
    def column(self):
        return getattr(self.model, self.error_column)

    def __repr__(self) -> str:
        return f"<Lane {self.name}>"


def install(app: Flask, lanes: tuple[Lane, ...], drain: Callable[..., int]) -> None:
    """Make ``lanes`` the app's lanes (names must be unique), worked through by the RQ job
    ``drain`` (``runner.drain``: passed in, as the runner sits above the waking that queues it)."""
    by_name: dict[str, Lane] = {}
    for lane in lanes:
        if lane.name in by_name:
            raise ValueError(f"two lanes are named {lane.name!r}")
        by_name[lane.name] = lane
    app.extensions["vani_lanes"] = by_name
    app.extensions["vani_drain"] = drain


def installed() -> tuple[Lane, ...]:
    return tuple(current_app.extensions["vani_lanes"].values())


def get(name: str) -> Lane:
    """The installed lane called ``name``; LookupError when there is none."""
    try:
        return current_app.extensions["vani_lanes"][name]
    except KeyError:
        raise LookupError(f"no work lane named {name!r} is installed") from None


def drain_job() -> Callable[..., int]:
    """The RQ job that works through a lane's due rows (queued by ``wake.kick``)."""
    return current_app.extensions["vani_drain"]
