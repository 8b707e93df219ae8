"""Re-encrypting every stored secret with the first of ``VANI_ENCRYPTION_KEYS`` (key rotation)."""
from __future__ import annotations

from sqlalchemy import text

from vani import crypto
from vani.extensions import db


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column stored encrypted (``EncryptedBytes`` included: its
    tokens are text too)."""
    return [(table.name, column.name) for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, crypto.Encrypted)]


def rotate_all(batch: int = 500) -> dict[str, int]:
    """Re-encrypt every stored secret with the first key, committing per batch. Returns counts by
    ``table.column``. Raises ``crypto.SecretUnreadable`` when a value no key can read."""
    counts = {}
    for table, column in encrypted_columns():
        done, last = 0, 0
        while True:
            rows = db.session.execute(text(
                f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND id > :last "
                f"ORDER BY id LIMIT {int(batch)}"), {"last": last}).all()
            if not rows:
                break
            for row_id, token in rows:
                db.session.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                                   {"v": crypto.rotate(token), "id": row_id})
            db.session.commit()
            done, last = done + len(rows), rows[-1][0]
        counts[f"{table}.{column}"] = done
    return counts
