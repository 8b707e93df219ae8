"""Re-encrypting every stored secret with the first of ``VANI_ENCRYPTION_KEYS`` (key rotation),
and finding the stored secrets none of the keys can decrypt.

A value no key can read (written under a key that is no longer, or not yet, configured) is
skipped and reported, never overwritten: it stays as it was, so restoring its key still recovers
it, and storing the secret again replaces it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import text

from vani import crypto, orgs
from vani.extensions import db

# How to replace an unreadable value, by table.
REMEDIES = {
    "webhook_subscriptions": "rotate the subscription's secret (POST /api/v1/webhooks/subscriptions/ID/rotate-secret)"
                             " or set its headers again",
    "mailboxes": "give the mailbox's password again, or connect it again, on the Mailboxes page",
    "provider_connections": "connect the provider again on its dashboard page",
    "organisations": "set the Slack URL again (flask vani set-notifications --slack-url)",
    "idempotent_requests": "nothing to do: a kept API answer, deleted by the cleanup within a day",
}


@dataclass(frozen=True)
class UnreadableValue:
    column: str  # table.column
    row_id: int
    about: str  # whose it is and how to replace it

    def __str__(self) -> str:
        return f"{self.column} row {self.row_id}: {self.about}"


@dataclass
class Rotation:
    counts: dict[str, int] = field(default_factory=dict)  # re-encrypted, by table.column
    skipped: list[UnreadableValue] = field(default_factory=list)


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column stored encrypted (``EncryptedBytes`` included: its
    tokens are text too)."""
    return [(table.name, column.name) for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, crypto.Encrypted)]


def _count(table: str, column: str) -> int:
    return db.session.execute(text(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")).scalar_one()


def _batches(table: str, column: str, batch: int) -> Iterator[list[tuple[int, str]]]:
    last = 0
    while True:
        rows = db.session.execute(text(
            f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND id > :last "
            f"ORDER BY id LIMIT {int(batch)}"), {"last": last}).all()
        if not rows:
            return
        yield [(row_id, token) for row_id, token in rows]
        last = rows[-1][0]


def describe(table: str, column: str, row_id: int) -> UnreadableValue:
    """Whose the unreadable value is (its organisation, for a provider credential which one) and
    how to replace it."""
    names = {c.name for c in db.metadata.tables[table].columns}
    wanted = [c for c in ("org_id", "provider", "name") if c in names]
    row = db.session.execute(text(f"SELECT {', '.join(wanted) or 'id'} FROM {table} WHERE id = :id"),
                             {"id": row_id}).mappings().one()
    org_id = row_id if table == "organisations" else row.get("org_id")
    org = orgs.refs().get(org_id) if org_id is not None else None
    slug = org.slug if org else None
    where = f"organisation {slug}" if slug else "the install"
    if table == "provider_credentials":
        option = f"--org {slug} " if slug else ""
        if row["name"].startswith("webhook_secret"):
            remedy = f"flask vani webhooks set-secret {option}{row['provider']} SECRET"
        else:
            remedy = f"flask vani webhooks set-key {option}{row['provider']} {row['name'].upper()} VALUE"
        return UnreadableValue(f"{table}.{column}", row_id, f"{where}, {row['provider']} {row['name']}; "
                               f"store it again ({remedy}) or restore the key it was written with")
    remedy = REMEDIES.get(table, "store it again")
    return UnreadableValue(f"{table}.{column}", row_id, f"{where}; {remedy}, or restore the key it was written with")


def _usable_keys() -> None:
    problem = crypto.check_keys(current_app.config.get("VANI_ENCRYPTION_KEYS"))
    if problem:
        raise crypto.SecretUnreadable(f"{problem}: stored secrets cannot be read or written")


def rotate_all(batch: int = 500, progress: Callable[[str, int, int], None] | None = None) -> Rotation:
    """Re-encrypt every stored secret with the first key, committing per batch; a value no key
    can read is skipped (left as it is) and listed. ``progress(table.column, done, total)`` is
    told after each batch. Raises ``crypto.SecretUnreadable`` when the keys themselves are
    unusable."""
    _usable_keys()
    result = Rotation()
    for table, column in encrypted_columns():
        label, total, done, skipped = f"{table}.{column}", _count(table, column), 0, []
        if progress:
            progress(label, 0, total)
        for rows in _batches(table, column, batch):
            for row_id, token in rows:
                try:
                    db.session.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                                       {"v": crypto.rotate(token), "id": row_id})
                except crypto.SecretUnreadable:
                    skipped.append(row_id)
            db.session.commit()
            done += len(rows)
            if progress:
                progress(label, done, max(total, done))
        result.counts[label] = done - len(skipped)
        result.skipped += [describe(table, column, row_id) for row_id in skipped]
    db.session.rollback()
    return result


def unreadable_values(batch: int = 500) -> list[UnreadableValue]:
    """Every stored value, in every organisation, that none of the keys can decrypt."""
    _usable_keys()
    found = []
    for table, column in encrypted_columns():
        for rows in _batches(table, column, batch):
            found += [describe(table, column, row_id) for row_id, token in rows if crypto.readable(token) is None]
    db.session.rollback()
    return found
