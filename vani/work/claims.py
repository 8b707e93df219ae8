"""Claiming due rows with a lease and a fencing token, and writing their outcomes.

A claim marks up to ``batch`` due rows of a lane ``running`` with a fresh random token and a
lease, in one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never wait on
each other). Every outcome is written with ``WHERE lease_token = <this claim's token> AND
status = running``: once a lease ran out and another worker took the row, a late write from
the first one changes nothing, and is logged.
"""
from __future__ import annotations

import enum
import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from vani.extensions import db
from vani.models.base import utcnow
from vani.models.dbutil import is_postgres
from vani.work import heartbeat
from vani.work.lane import Lane

log = logging.getLogger(__name__)

ERROR_MAX = 2000
LOST = "the worker stopped during this attempt (its lease ran out or its heartbeat stopped); taken over"
UNSURE = ("the worker stopped while sending, so it may have gone out: not sent again "
          "automatically; retry it by hand if it did not arrive")


def _table(lane: Lane):
    return lane.model.__table__


def clip(text: str | None) -> str | None:
    return text[:ERROR_MAX] if text else text


@dataclass
class Claim:
    """Rows one worker holds. Handlers settle each row with ``done`` or ``fail``; the engine
    fails whatever a handler leaves unsettled."""

    lane: Lane
    token: str
    attempts: dict[int, int]          # id → attempts, this one included
    taken_at: datetime
    lease: timedelta
    policy: object
    settled: dict[int, object] = field(default_factory=dict)
    renewed: float = field(default_factory=time.monotonic)
    on_renew: object = None           # called after each renewal (the runner refreshes its wake flag)
    rng: random.Random | None = None  # the jitter's random source (tests fix it)
    notes: dict[int, object] = field(default_factory=dict)  # what the handler read of each row, for on_settle

    @property
    def ids(self) -> list[int]:
        return list(self.attempts)

    @property
    def unsettled(self) -> list[int]:
        return [i for i in self.attempts if i not in self.settled]

    def _mine(self, t, ids):
        return and_(t.c.id.in_(ids), t.c.lease_token == self.token, t.c.status == self.lane.running)

    def own(self) -> set[int]:
        """Lock this claim's unsettled rows still held (until the caller's transaction ends)
        and return their ids. A row another worker has since taken is settled as lost."""
        ids = self.unsettled
        held = self.own_ids(ids)
        for lost in set(ids) - held:
            log.warning("%s %s: lease lost before work began; another worker has it", self.lane.name, lost)
            self.settled[lost] = None
        return held

    def own_ids(self, ids: list[int]) -> set[int]:
        """Of ``ids``, the ones this claim still holds, locked until the transaction ends."""
        if not ids:
            return set()
        t = _table(self.lane)
        return set(db.session.execute(update(t).where(self._mine(t, ids)).values(lease_token=self.token)
                                      .returning(t.c.id)).scalars())

    def renew(self, force: bool = False) -> None:
        """Extend the lease of unsettled rows (own transaction, committed) when a third of it
        has passed, or at once with ``force``. Call it between items of long work."""
        if not force and time.monotonic() - self.renewed < self.lease.total_seconds() / 3:
            return
        ids = self.unsettled
        if ids:
            t = _table(self.lane)
            db.session.execute(update(t).where(self._mine(t, ids))
                               .values(lease_expires_at=utcnow() + self.lease))
            db.session.commit()
        self.renewed = time.monotonic()
        if callable(self.on_renew):
            self.on_renew()

    def done(self, item_id: int, status, **values) -> bool:
        """Settle one row as finished (no commit). False, and nothing written, when the row
        is no longer this claim's."""
        return self.write([(item_id, status, values)])[item_id]

    def write(self, outcomes: list[tuple[int, object, dict]], owned: set[int] | None = None) -> dict[int, bool]:
        """Settle several rows (no commit): ``(id, status, {column: value})`` each. Every write
        is fenced by this claim's token; rows with the same columns go in one statement, and a
        row the database refuses never takes its neighbours' outcomes with it. Returns, for
        each id, whether its outcome was written (False: another worker has the row).
        ``owned``: what ``own_ids`` just said in this transaction (saves asking again)."""
        if not outcomes:
            return {}
        arrays = is_postgres()  # one statement per group, which says what it wrote
        if owned is None and not arrays:
            owned = self.own_ids([item_id for item_id, _, _ in outcomes])
        groups: dict[tuple[str, ...], list[tuple[int, object, dict]]] = {}
        for outcome in outcomes:
            if owned is None or outcome[0] in owned:
                groups.setdefault(tuple(sorted(outcome[2])), []).append(outcome)
        written: set[int] = set()
        for columns, items in groups.items():
            written |= self._write_group(columns, items, arrays)
        result = {}
        for item_id, status, _ in outcomes:
            mine = item_id in written
            result[item_id] = mine
            self.settled.setdefault(item_id, status if mine else None)
            if not mine:
                log.warning("%s %s: outcome not written, the lease was lost (another worker has the row)",
                            self.lane.name, item_id)
        if self.lane.on_settle is not None:
            settled = [(item_id, self.settled[item_id]) for item_id, _, _ in outcomes if result[item_id]]
            if settled:
                self.lane.on_settle(self, settled)
        return result

    def _write_group(self, columns: tuple[str, ...], items: list[tuple[int, object, dict]], arrays: bool) -> set[int]:
        """Write rows with the same columns; returns the ids written."""
        try:
            with db.session.begin_nested():
                if arrays:
                    return self._write_arrays(columns, items)
                t = _table(self.lane)
                stmt = (update(t).where(t.c.id == bindparam("b_id"), t.c.lease_token == self.token,
                                        t.c.status == self.lane.running)
                        .values(status=bindparam("b_status"), lease_token=None, lease_expires_at=None,
                                lease_owner=None, **{c: bindparam(f"b_{c}") for c in columns}))
                db.session.execute(stmt, [{"b_id": i, "b_status": status, **{f"b_{c}": values[c] for c in columns}}
                                          for i, status, values in items])
                return {item_id for item_id, _, _ in items}  # owned, and locked by ``own_ids``
        except DBAPIError:
            if len(items) == 1:
                return self._write_refused(items[0])
        written: set[int] = set()
        for item in items:  # one at a time: find the row the database refuses
            written |= self._write_group(columns, [item], arrays)
        return written

    def _write_arrays(self, columns: tuple[str, ...], items: list[tuple[int, object, dict]]) -> set[int]:
        """PostgreSQL: one ``UPDATE … FROM unnest(…)`` for the group, one array per column,
        fenced like any write; returns the ids it wrote."""
        t = _table(self.lane)
        names = ("id", "status", *columns)
        given = select(*(func.unnest(bindparam(f"a_{n}", type_=_array_of(t.c[n].type))).label(n)
                         for n in names)).subquery("given")
        stmt = (update(t).where(t.c.id == given.c.id, t.c.lease_token == self.token, t.c.status == self.lane.running)
                .values(status=given.c.status, lease_token=None, lease_expires_at=None, lease_owner=None,
                        **{c: given.c[c] for c in columns})
                .returning(t.c.id))
        params = {"a_id": [i for i, _, _ in items], "a_status": [_plain(status) for _, status, _ in items],
                  **{f"a_{c}": [_plain(values[c]) for _, _, values in items] for c in columns}}
        return set(db.session.execute(stmt, params).scalars())

    def _write_refused(self, item: tuple[int, object, dict]) -> set[int]:
        item_id, status, _ = item
        log.exception("%s %s: the database refused its outcome %s", self.lane.name, item_id, status)
        state, columns = self.failure(item_id, f"could not record the outcome {status}: the database refused it")
        t = _table(self.lane)
        written = db.session.execute(
            update(t).where(t.c.id == item_id, t.c.lease_token == self.token, t.c.status == self.lane.running)
            .values(status=state, lease_token=None, lease_expires_at=None, lease_owner=None, **columns)
            .returning(t.c.id)).scalars().all()
        if written:
            self.settled[item_id] = state
        return set(written)

    def failure(self, item_id: int, error: str, retry_after: str | None = None, now: datetime | None = None,
                rng: random.Random | None = None) -> tuple[object, dict]:
        """The state and columns a failed attempt leads to: retried by the policy, or dead."""
        now = now or utcnow()
        nxt = self.policy.next_attempt(self.attempts[item_id], now, retry_after, rng or self.rng)
        status = self.lane.retry if nxt is not None else self.lane.dead
        return status, {"next_attempt_at": nxt, self.lane.error_column: clip(error)}

    def fail(self, item_id: int, error: str, retry_after: str | None = None, **values) -> object:
        """Settle one row as failed (no commit): retried later, or dead when its attempts are
        spent. Returns the new state, or None when the row is no longer this claim's."""
        status, columns = self.failure(item_id, error, retry_after)
        written = self.write([(item_id, status, {**values, **columns})])[item_id]
        return status if written else None

    def release(self, ids: list[int], until: datetime | None = None) -> None:
        """Hand rows back untouched (due now, or at ``until``; the claim's attempt not counted)
        and commit: for a handler whose time is up before it got to them, or that must wait
        (a rate limit)."""
        ids = [i for i in ids if i not in self.settled]
        if not ids:
            return
        t = _table(self.lane)
        db.session.execute(update(t).where(self._mine(t, ids)).values(
            status=self.lane.ready[0], next_attempt_at=until or utcnow(), attempts=t.c.attempts - 1,
            lease_token=None, lease_expires_at=None, lease_owner=None))
        db.session.commit()
        for i in ids:
            self.settled[i] = self.lane.ready[0]

    def fail_rest(self, error: str) -> None:
        """Fail every unsettled row (in a fresh transaction, committed)."""
        db.session.rollback()
        ids = self.unsettled
        if ids:
            outcomes = [(i, *self.failure(i, error)) for i in ids]
            self.write(outcomes)
            db.session.commit()


def _array_of(kind) -> ARRAY:
    """The array type a column's values are sent as: strings without their length (an enum is
    one too), so a value too long is refused by the column, as by a plain UPDATE, not cut short
    by a cast; other types as the column's own (its bind processing applied to each value)."""
    return ARRAY(String() if isinstance(kind, String) else kind)


def _plain(value):
    """A state or another enum member as its value (sent as a string)."""
    return value.value if isinstance(value, enum.Enum) else value


def _due(lane: Lane, t, now: datetime):
    cond = and_(t.c.status.in_(lane.ready), t.c.next_attempt_at <= now)
    return and_(cond, lane.claimable(t)) if lane.claimable is not None else cond


def claim(lane: Lane, cfg: Mapping, now: datetime | None = None, limit: int | None = None,
          ids: list[int] | None = None) -> Claim | None:
    """Claim up to ``limit`` (the lane's batch) due rows, oldest due first, and commit.
    ``ids`` restricts the claim to those rows. None when nothing was due."""
    now = now or utcnow()
    t = _table(lane)
    lease = lane.lease(cfg)
    due = select(t.c.id).where(_due(lane, t, now))
    if ids is not None:
        due = due.where(t.c.id.in_(ids))
    due = due.order_by(t.c.next_attempt_at, t.c.id).limit(limit or lane.batch_size(cfg)).with_for_update(skip_locked=True)
    token = uuid.uuid4().hex
    stmt = (update(t).where(t.c.id.in_(due.scalar_subquery()), t.c.status.in_(lane.ready))
            .values(status=lane.running, lease_token=token, lease_expires_at=now + lease,
                    lease_owner=heartbeat.current_id(), attempts=t.c.attempts + 1, **lane.claim_values(now))
            .returning(t.c.id, t.c.attempts))
    rows = db.session.execute(stmt).all()
    db.session.commit()
    if not rows:
        return None
    return Claim(lane, token, dict(sorted(rows)), now, lease, lane.policy(cfg))


def take_over(lane: Lane, cfg: Mapping, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Rows whose worker died: their lease ran out, or the heartbeat of the process holding them
    went silent (then at once, not at the lease's end). Due again now, or dead letters when their
    attempts are spent or they may already have been sent (``Lane.unsure``). Commits; returns ids."""
    now = now or utcnow()
    t = _table(lane)
    gone = or_(t.c.lease_expires_at <= now, t.c.lease_owner.in_(heartbeat.silent_ids(cfg, now)))
    expired = (select(t.c.id).where(t.c.status == lane.running, gone)
               .order_by(t.c.id).limit(limit).with_for_update(skip_locked=True))
    max_attempts = lane.policy(cfg).max_attempts
    unsure = lane.unsure(t) if lane.unsure is not None else None
    dead = or_(t.c.attempts >= max_attempts, unsure) if unsure is not None else t.c.attempts >= max_attempts
    error = case((unsure, UNSURE), else_=LOST) if unsure is not None else LOST
    stmt = (update(t).where(t.c.id.in_(expired.scalar_subquery()), t.c.status == lane.running, gone)
            .values({"status": case((dead, lane.dead), else_=lane.retry),
                     "next_attempt_at": case((dead, None), else_=now),
                     "lease_token": None, "lease_expires_at": None, "lease_owner": None, lane.error_column: error})
            .returning(t.c.id, t.c.status))
    written = sorted((item_id, status) for item_id, status in db.session.execute(stmt))
    ids = [item_id for item_id, _ in written]
    if ids:
        log.warning("%s: took over %d item(s) from a stopped worker: %s", lane.name, len(ids), ids[:20])
        if lane.on_lost is not None:
            lane.on_lost(ids, now)
        if lane.on_settle is not None:  # a failed attempt (or a dead letter) for the rollups too
            lane.on_settle(Claim(lane, "", {}, now, timedelta(0), None), written)
    db.session.commit()
    return ids


def is_due(lane: Lane, now: datetime | None = None) -> bool:
    """True when the lane has a row to claim now."""
    now = now or utcnow()
    t = _table(lane)
    found = db.session.execute(select(exists().where(_due(lane, t, now)))).scalar()
    db.session.rollback()
    return bool(found)

