"""The prospects and meetings a batch of events names, read before the batch is mapped.

Before a batch is mapped, its events name the prospects (by email) and meetings (by provider
and ref) they are about; ``load`` reads those that exist in one query each (the meetings
row-locked on PostgreSQL, as ``meetings.get`` locks one) and, on PostgreSQL, takes ids for the
missing ones from their sequences in one more. Inside the batch, ``get_or_add`` answers from
memory: an existing row, or a new one added to the session with a taken id, inserted with the
batch's other new rows at the next flush. A key the batch did not name, or a batch out of ids,
is left to the caller's own lookup (``None``).

A concurrent insert of the same key makes that flush fail; the events lane then maps the batch
again with a savepoint per event (``forget``), where each event inserts its rows itself.
"""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import inspect, select, text, tuple_
from sqlalchemy.orm.attributes import set_committed_value

from vani import memo
from vani.extensions import db
from vani.models import Meeting, Prospect
from vani.models.dbutil import is_postgres
from vani.payloads.coerce import as_email

REF_MAX = 512  # Meeting.provider_ref
KEY = "known"
ID_QUERY = text("SELECT (SELECT array_agg(nextval(pg_get_serial_sequence('prospects', 'id')))"
                " FROM generate_series(1, :prospects)),"
                " (SELECT array_agg(nextval(pg_get_serial_sequence('meetings', 'id')))"
                " FROM generate_series(1, :meetings))")


class Rows:
    """A batch's named rows: {key: row, or None while missing}, and the ids left for new ones."""

    def __init__(self) -> None:
        self.rows: dict[type, dict[tuple, Any]] = {Prospect: {}, Meeting: {}}
        self.ids: dict[type, list[int]] = {Prospect: [], Meeting: []}
        self.new: dict[tuple[type, int], Any] = {}  # (model, id): a row added here, not yet flushed


def prospect_key(org_id: int, email: str | None) -> tuple | None:
    email = as_email(email)
    return (org_id, email) if email else None


def meeting_key(org_id: int, provider: str, ref: str | None) -> tuple | None:
    return (org_id, provider, ref[:REF_MAX]) if ref else None


def load(prospect_keys: set[tuple], meeting_keys: set[tuple]) -> None:
    """Read the batch's named prospects and meetings (every organisation's: each key names its
    own) and take ids for those missing. Does nothing outside ``memo.batch()``."""
    table = memo.table(KEY)
    if table is None:
        return
    found = Rows()
    prospect_keys.discard(None)
    meeting_keys.discard(None)
    if prospect_keys:
        found.rows[Prospect] = dict.fromkeys(prospect_keys)
        stmt = select(Prospect).where(tuple_(Prospect.org_id, Prospect.email).in_(list(prospect_keys)))
        for row in db.session.scalars(stmt.execution_options(unscoped=True)):
            found.rows[Prospect][(row.org_id, row.email)] = row
    if meeting_keys:
        found.rows[Meeting] = dict.fromkeys(meeting_keys)
        stmt = (select(Meeting).where(tuple_(Meeting.org_id, Meeting.provider, Meeting.provider_ref)
                                      .in_(list(meeting_keys))).order_by(Meeting.id).with_for_update())
        for row in db.session.scalars(stmt.execution_options(unscoped=True)):
            found.rows[Meeting][(row.org_id, row.provider, row.provider_ref)] = row
    missing = {model: sum(row is None for row in rows.values()) for model, rows in found.rows.items()}
    if is_postgres() and any(missing.values()):
        prospect_ids, meeting_ids = db.session.execute(
            ID_QUERY, {"prospects": missing[Prospect], "meetings": missing[Meeting]}).one()
        found.ids = {Prospect: list(reversed(prospect_ids or [])), Meeting: list(reversed(meeting_ids or []))}
    table["rows"] = found


def forget() -> None:
    """Answer nothing from memory until the next ``load`` (the batch was rolled back)."""
    table = memo.table(KEY)
    if table is not None:
        table.pop("rows", None)


def get_or_add(model: type, key: tuple | None, values: dict) -> tuple[Any, bool]:
    """(the existing row, False), (a new row made of ``values`` and added to the session, True),
    or (None, False) when this batch cannot tell: the caller looks the row up itself."""
    table = memo.table(KEY)
    found: Rows | None = table.get("rows") if table is not None else None
    if found is None or key is None or key not in found.rows[model]:
        return None, False
    row = found.rows[model][key]
    if row is not None:
        return row, False
    if not found.ids[model]:
        return None, False
    row = model(**{**_defaults(model), **values, "id": found.ids[model].pop()})
    for relation, column in (("prospect", "prospect_id"), ("replaces", "replaces_id")):
        target = values.get(column)
        if target is not None and relation in _relations(model):
            related = found.new.get((_relations(model)[relation], target)) or db.session.get(
                _relations(model)[relation], target)
            set_committed_value(row, relation, related)
    db.session.add(row)
    found.rows[model][key] = row
    found.new[(model, row.id)] = row
    return row, True


def remember(model: type, key: tuple | None, row: Any) -> None:
    """Note a row the caller found or inserted itself, for the batch's further events."""
    table = memo.table(KEY)
    found: Rows | None = table.get("rows") if table is not None else None
    if found is not None and key is not None and row is not None and key in found.rows[model]:
        found.rows[model][key] = row


def _defaults(model: type) -> dict[str, Any]:
    """The column defaults a new ``model`` row gets on INSERT, as {attribute: value}."""
    return {key: default.arg(None) if default.is_callable else default.arg
            for key, default in _default_specs(model).items()}


@functools.cache
def _default_specs(model: type) -> dict[str, Any]:
    return {attr.key: attr.columns[0].default for attr in inspect(model).column_attrs
            if attr.columns[0].default is not None and not attr.columns[0].primary_key}


@functools.cache
def _relations(model: type) -> dict[str, type]:
    return {rel.key: rel.mapper.class_ for rel in inspect(model).relationships if rel.direction.name == "MANYTOONE"}
