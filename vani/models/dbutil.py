"""Small portable helpers over dialect-specific SQL (PostgreSQL and SQLite)."""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from vani.extensions import db


def dialect_insert(model):
    """The dialect's INSERT (with ON CONFLICT support) for a model or table."""
    name = db.session.get_bind().dialect.name
    module = postgresql if name == "postgresql" else sqlite
    return module.insert(model)


def insert_ignore(model, values: dict | None, conflict_columns: list[str], returning: bool = True):
    """``INSERT … ON CONFLICT (cols) DO NOTHING [RETURNING id]``: yields the new id, or nothing.

    With ``values`` None, execute it with a list of rows (one multi-row statement)."""
    table = getattr(model, "__table__", model)
    stmt = dialect_insert(table)
    if values is not None:
        stmt = stmt.values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=conflict_columns)
    return stmt.returning(table.c.id) if returning else stmt


def insert_new(model, values: dict, conflict_columns: list[str]):
    """Insert a row unless one with the same ``conflict_columns`` exists: the new ORM object (in
    the session), or None. One round trip where "find, insert, read back" takes three.

    The statement is built once per model and conflict target, and its row is read back as a
    query's would be (``from_statement``): mappers call this for every event, and building an
    INSERT and running it through the ORM's bulk machinery costs more than the round trip."""
    stmt = _insert_returning(model, tuple(conflict_columns), db.session.get_bind().dialect.name)
    renamed = _renamed(model)
    params = {renamed.get(key, key): value for key, value in values.items()} if renamed else values
    return db.session.scalars(stmt, params).first()


@functools.cache
def _insert_returning(model, conflict_columns: tuple[str, ...], dialect: str):
    table = model.__table__
    insert = ((postgresql if dialect == "postgresql" else sqlite).insert(table)
              .on_conflict_do_nothing(index_elements=list(conflict_columns)).returning(*table.c))
    # The row names its organisation: there is nothing for the organisation rule to scope.
    return select(model).from_statement(insert).execution_options(populate_existing=True, unscoped=True)


@functools.cache
def _renamed(model) -> dict[str, str]:
    """Attributes of ``model`` whose column has another name: {attribute: column}."""
    return {attr.key: attr.columns[0].key for attr in inspect(model).column_attrs
            if attr.columns[0].key != attr.key}


def fit(model, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each string cut to its column's length (providers may send anything)."""
    lengths = _lengths(model)
    return {key: value[:lengths[key]] if key in lengths and isinstance(value, str) else value
            for key, value in values.items()}


@functools.cache
def _lengths(model) -> dict[str, int]:
    """The columns of ``model`` with a length: {column: length}."""
    return {column.key: column.type.length for column in model.__table__.c
            if getattr(column.type, "length", None)}


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"
