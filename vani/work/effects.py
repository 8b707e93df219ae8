"""The unit of work: what a change makes happen outside the database, carried out once it is committed.

A change records its effects on the session it writes with: ``wake(lane)`` (a worker should
look at the rows it made due) and ``publish(org_id, topic)`` (the dashboard should show what
changed). One hook after the session's commit carries them out, each once, in one Redis round
trip; a rollback forgets them, and so does the rollback of the savepoint they were recorded
in (a failed event in a processing batch tells nobody). Publishing is installed by
``create_app`` (``install``), so the engine knows nothing of the services above it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from vani.extensions import db
from vani.work import wake as waking
from vani.work.lane import Lane

log = logging.getLogger(__name__)

KEY = "vani_effects"  # in Session.info: [(savepoint or None, effect)], in the order recorded

# Adds PUBLISH commands for ``(org_id, topic)`` pairs to a Redis pipeline.
Publisher = Callable[[object, list[tuple[int, str]]], None]


def install(app: Flask, publish: Publisher) -> None:
    """Make ``publish`` the way live updates go out, and hook the unit of work to every session."""
    app.extensions["vani_publish"] = publish
    for name, hook in (("after_commit", _after_commit), ("after_rollback", _after_rollback),
                       ("after_soft_rollback", _after_soft_rollback),
                       ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _record(effect: tuple, session: Session | None) -> None:
    session = session if session is not None else db.session()
    session.info.setdefault(KEY, []).append((session.get_nested_transaction(), effect))


def wake(lane: Lane, session: Session | None = None) -> None:
    """Once the transaction is committed, have a worker of ``lane`` look at its due rows."""
    if not isinstance(lane, Lane):
        raise TypeError(f"wake takes a work.Lane, not {lane!r}")
    _record(("wake", lane), session)


def publish(org_id: int, *topics: str, session: Session | None = None) -> None:
    """Once the transaction is committed, tell the organisation's dashboards ``topics`` changed."""
    for topic in topics:
        _record(("publish", org_id, topic), session)


def pending(session: Session | None = None) -> list[tuple]:
    """The effects the session's transaction will carry out when it commits (deduplicated)."""
    session = session if session is not None else db.session()
    return list(dict.fromkeys(effect for _, effect in session.info.get(KEY, ())))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: its effects wait for the real commit
        return
    effects = pending(session)
    session.info.pop(KEY, None)
    if effects:
        try:
            carry_out(effects)
        except Exception:  # the change is committed: a lost wake-up is the sweep's to make up for
            log.exception("could not carry out %d effects after a commit", len(effects))


def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(KEY, None)


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    """Forget the effects recorded in the rolled back savepoint (and those nested in it); a root
    rollback forgets them all."""
    boundary = previous
    while boundary.parent is not None and not boundary.nested:
        boundary = boundary.parent
    recorded = session.info.get(KEY)
    if not recorded:
        return
    if boundary.parent is None:
        session.info.pop(KEY, None)
        return
    session.info[KEY] = [(where, effect) for where, effect in recorded if not _within(where, boundary)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """A session closed mid-transaction (the end of a request that raised) forgets them too."""
    if transaction.parent is None:
        session.info.pop(KEY, None)


def _within(where: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while where is not None:
        if where is boundary:
            return True
        where = where.parent
    return False


def carry_out(effects: list[tuple]) -> bool:
    """Wake the lanes and publish the topics, in one Redis round trip (False: Redis is away)."""
    lanes = list(dict.fromkeys(effect[1] for effect in effects if effect[0] == "wake"))
    messages = [(effect[1], effect[2]) for effect in effects if effect[0] == "publish"]
    publisher = current_app.extensions.get("vani_publish")
    return waking.kick_all(lanes, (lambda pipe: publisher(pipe, messages)) if messages and publisher else None)
