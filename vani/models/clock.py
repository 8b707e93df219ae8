"""An organisation's clock: times written and shown in its time zone, with the zone named.

Vani stores every time in UTC. What people read (the notes Vani writes, the dashboard,
notifications) is in the organisation's time zone (``Organisation.timezone``), e.g.
``2026-01-05 11:00 CET``; UTC when the organisation has none or one this machine does not know.
"""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, has_request_context

from vani import memo, tenancy
from vani.extensions import db
from vani.models.base import as_utc
from vani.models.orgs import Organisation

MINUTES = "%Y-%m-%d %H:%M"
SECONDS = "%Y-%m-%d %H:%M:%S"


def zone_named(name: str | None) -> tzinfo:
    """The time zone called ``name`` (IANA, e.g. ``Europe/Berlin``); UTC when empty or unknown."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone(org_id: int | None = None) -> tzinfo:
    """The time zone of organisation ``org_id`` (by default the one in force); UTC when unset.
    Read once per request (a page formats many times) and once per batch of events (``memo``),
    afresh elsewhere: a change of zone is seen by the next request or batch."""
    org_id = tenancy.current() if org_id is None else org_id
    known = g.setdefault("vani_zones", {}) if has_request_context() else memo.table("zones")
    if known is not None and org_id in known:
        return known[org_id][0]
    org = db.session.get(Organisation, org_id) if org_id is not None else None
    found = zone_named(org.timezone if org is not None else None)
    if known is not None:
        known[org_id] = (found, org)  # the row too: the session holds rows weakly, and it is read again
    return found


def zone_label(local: datetime) -> str:
    """How ``local`` names its zone: the abbreviation when it is one (``CET``, ``EST``, ``UTC``),
    else the zone's own name (``America/Sao_Paulo`` rather than ``-03``)."""
    short = local.tzname() or ""
    if short.isalpha():
        return short
    return getattr(local.tzinfo, "key", None) or short or "UTC"


def describe(value: datetime, org_id: int | None = None, fmt: str = MINUTES, where: tzinfo | None = None) -> str:
    """``value`` in the organisation's time zone (or ``where``), the zone named: ``2026-01-05 11:00 CET``."""
    return _described(as_utc(value), fmt, where or zone(org_id))


@lru_cache(maxsize=4096)
def _described(value: datetime, fmt: str, where: tzinfo) -> str:
    """The same instant is often written many times on one page (an hour in every chart and its
    table): formatted once."""
    local = value.astimezone(where)
    return f"{local.strftime(fmt)} {zone_label(local)}"
