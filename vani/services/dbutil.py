"""Small portable helpers over dialect-specific SQL (PostgreSQL and SQLite)."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from vani.extensions import db


def dialect_insert(model):
    """The dialect's INSERT (with ON CONFLICT support) for a model or table."""
    name = db.session.get_bind().dialect.name
    module = postgresql if name == "postgresql" else sqlite
    return module.insert(model)


def insert_ignore(model, values: dict, conflict_columns: list[str]):
    """``INSERT … ON CONFLICT (cols) DO NOTHING RETURNING id``: yields the new id, or nothing.

    A Core insert on the model's table: the ORM's bulk-insert machinery is not needed here."""
    table = getattr(model, "__table__", model)
    return (dialect_insert(table).values(**values)
            .on_conflict_do_nothing(index_elements=conflict_columns)
            .returning(table.c.id))


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"
