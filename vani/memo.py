"""Lookups read once per batch: what a worker mapping a batch of events reads again and again.

A batch of bookings names the same organisation (its time zone) and the same hosts (their
member ids) many times over. Inside ``batch()`` such a lookup keeps its answer in a table of the
batch, forgotten when the batch ends, so a change (a new time zone, a new member) is seen by the
next batch. Outside a batch there is no table and the lookup reads afresh (a request keeps its
own in ``flask.g``, which ends with it).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import g, has_app_context

KEY = "vani_batch_memo"


def table(name: str) -> dict | None:
    """The batch's table called ``name``, or None outside a batch."""
    tables = g.get(KEY) if has_app_context() else None
    return tables.setdefault(name, {}) if tables is not None else None


@contextmanager
def batch() -> Iterator[None]:
    """Keep what is looked up in the block until it ends."""
    outer = g.get(KEY)
    setattr(g, KEY, {})
    try:
        yield
    finally:
        setattr(g, KEY, outer)
