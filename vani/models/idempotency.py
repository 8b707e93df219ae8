"""Idempotency keys for the API's creating requests (the ``Idempotency-Key`` header).

The first request with a key claims it by inserting its row (a unique key per token), runs, and
stores its answer. A repeat with the same method, path and body gets that answer back for
``TTL``; with anything else, ``KeyReused`` (409). A repeat that arrives while the first is still
running waits for its answer, so concurrent requests with one key create one resource. A claim
whose request died unanswered is taken over after ``ABANDONED_AFTER``.

Rows are read and written on their own connection, never in the request's session: a claim is
committed before the work starts and an answer is stored whatever the work did to its session.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from vani.crypto import EncryptedBytes
from vani.errors import Conflict, InvalidField
from vani.extensions import db
from vani.models.base import BigId, UTCDateTime, as_utc, utcnow
from vani.models.orgs import OrgOwned


class IdempotentRequest(OrgOwned, db.Model):
    """One ``Idempotency-Key`` a token sent: what the request was (``fingerprint``) and, once
    answered, the answer (encrypted: a subscription's answer holds its signing secret).
    ``status`` is null while the first request is still running."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotent_requests_token_key"),
                      Index("ix_idempotent_requests_created", "created_at"),
                      Index("ix_idempotent_requests_org", "org_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    body: Mapped[bytes | None] = mapped_column(EncryptedBytes, nullable=True)  # may hold a new whsec_ secret
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


TTL = timedelta(hours=24)
ABANDONED_AFTER = timedelta(seconds=60)
WAIT_SECONDS = 10.0
MAX_KEY = 200

table = IdempotentRequest.__table__


class KeyReused(Conflict):
    code = "idempotency_key_reused"


class KeyInFlight(Conflict):
    code = "idempotency_key_in_progress"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str | None
    body: bytes


def checked_key(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise InvalidField("Idempotency-Key", f"1 to {MAX_KEY} printable ASCII characters")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request a key stands for: the same JSON body in another spelling is the same request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def begin(org_id: int, token_id: int, key: str, print_: str) -> int | Answer:
    """Claim ``key`` for this token: the claim's id (run the request, then ``finish``) or the
    first request's answer. Raises ``KeyReused`` or ``KeyInFlight``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        claimed = _claim(org_id, token_id, key, print_)
        if claimed is not None:
            return claimed
        row = _load(token_id, key)
        if row is None:
            continue  # purged between our insert and our read
        now = utcnow()
        created = as_utc(row.created_at)
        if created < now - TTL:
            _drop(row.id)
            continue
        if row.fingerprint != print_:
            raise KeyReused("this Idempotency-Key was sent with another request (method, path or body); "
                            "use a new key for a new request")
        if row.status is not None:
            return Answer(row.status, row.content_type, row.body or b"")
        if created < now - ABANDONED_AFTER:
            _drop(row.id, unanswered_only=True)
            continue
        if time.monotonic() >= deadline:
            raise KeyInFlight("a request with this Idempotency-Key is still running; retry shortly")
        time.sleep(0.05)


def finish(claim_id: int, status: int, content_type: str | None, body: bytes) -> None:
    """Store the answer to replay; a server error or a "too many, try later" (429) frees the key
    instead, so a retry runs again."""
    with db.engine.begin() as conn:
        if status >= 500 or status == 429:
            conn.execute(delete(table).where(table.c.id == claim_id))
        else:
            conn.execute(update(table).where(table.c.id == claim_id).values(
                status=status, content_type=(content_type or "")[:128] or None, body=body, answered_at=utcnow()))


def release(claim_id: int) -> None:
    """Free a claim whose request ended without an answer (it raised): a retry runs again."""
    with db.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id == claim_id, table.c.status.is_(None)))


def purge(now: datetime | None = None) -> int:
    """Forget keys older than ``TTL``."""
    with db.engine.begin() as conn:
        return conn.execute(delete(table).where(table.c.created_at < (now or utcnow()) - TTL)).rowcount or 0


def _claim(org_id: int, token_id: int, key: str, print_: str) -> int | None:
    try:
        with db.engine.begin() as conn:
            return conn.execute(insert(table).values(
                org_id=org_id, token_id=token_id, key=key, fingerprint=print_, created_at=utcnow())
                .returning(table.c.id)).scalar_one()
    except IntegrityError:
        return None


def _load(token_id: int, key: str):
    with db.engine.connect() as conn:
        return conn.execute(select(table).where(table.c.token_id == token_id, table.c.key == key)).first()


def _drop(claim_id: int, unanswered_only: bool = False) -> None:
    """Remove an expired claim, or an abandoned one unless its answer arrived meanwhile."""
    stmt = delete(table).where(table.c.id == claim_id)
    with db.engine.begin() as conn:
        conn.execute(stmt.where(table.c.status.is_(None)) if unanswered_only else stmt)
