"""Which organisation the current work is for, and the rule that keeps organisations apart.

A request sets its organisation once (from the webhook URL, the API token or the signed-in
member's choice); a worker sets it for each item it handles. Every ORM ``SELECT``, ``UPDATE``
and ``DELETE`` of a model that belongs to an organisation (``OrgOwned``) is then scoped to it by
SQLAlchemy (``with_loader_criteria``), so a query that forgets the organisation cannot leak
another's rows: with no organisation in force it finds nothing. Inserts name their organisation
(``current()``). The engine's claims, the sweeps and retention work across organisations on
purpose, with ``everywhere()`` or plain table statements.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria

from vani.extensions import Session as AppSession
from vani.models.orgs import OrgOwned

NONE = -1  # matches no organisation: the scope when none is in force


def current() -> int | None:
    """The organisation in force, or None."""
    return g.get("org_id") if has_app_context() else None


def require() -> int:
    org_id = current()
    if org_id is None:
        raise RuntimeError("no organisation is in force for this work")
    return org_id


def set_current(org_id: int | None) -> None:
    g.org_id = org_id


def enter_request(org_id: int) -> None:
    """Put ``org_id`` in force for the rest of this request (restored when the request ends, so
    an app context that outlives requests, as in tests, keeps its own)."""
    if "org_before_request" not in g:
        g.org_before_request = g.get("org_id")
    g.org_id = org_id


def _leave_request(_exc=None) -> None:
    if "org_before_request" in g:
        g.org_id = g.pop("org_before_request")


@contextmanager
def acting_for(org_id: int | None):
    """Run the block for ``org_id`` (then restore whatever was in force)."""
    before, unscoped = g.get("org_id"), g.get("org_unscoped", False)
    g.org_id, g.org_unscoped = org_id, False
    try:
        yield
    finally:
        g.org_id, g.org_unscoped = before, unscoped


@contextmanager
def everywhere():
    """Read across organisations in the block (sweeps, retention, a superuser's list)."""
    before = g.get("org_unscoped", False)
    g.org_unscoped = True
    try:
        yield
    finally:
        g.org_unscoped = before


def _scope(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete) or not has_app_context():
        return
    if g.get("org_unscoped") or state.execution_options.get("unscoped"):
        return
    org_id = g.get("org_id")
    state.statement = state.statement.options(_criteria(NONE if org_id is None else org_id))


@lru_cache(maxsize=4096)
def _criteria(org_id: int):
    """The scoping option for one organisation, built once (SQLAlchemy caches the compiled
    statements across organisations: ``org_id`` is a bound parameter of the lambda)."""
    return with_loader_criteria(OrgOwned, lambda cls: cls.org_id == org_id, include_aliases=True)


def _visible(obj, options: dict) -> bool:
    """Whether ``session.get`` may hand back ``obj`` from memory: a row of an organisation only
    while that organisation is in force (or the reader works across organisations on purpose)."""
    if not isinstance(obj, OrgOwned) or not has_app_context() or g.get("org_unscoped"):
        return True
    if (options.get("execution_options") or {}).get("unscoped"):
        return True
    return obj.org_id is None or obj.org_id == g.get("org_id")


def _stamp(session, _flush_context, _instances) -> None:
    """New rows of an organisation's models belong to the organisation in force."""
    for obj in session.new:
        if isinstance(obj, OrgOwned) and obj.org_id is None:
            obj.org_id = require()


_installed = False


def init_app(app) -> None:
    global _installed
    app.teardown_request(_leave_request)
    if not _installed:
        AppSession.get_checks.append(_visible)
        event.listen(Session, "do_orm_execute", _scope)
        event.listen(Session, "before_flush", _stamp)
        _installed = True
