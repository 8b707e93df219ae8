"""API tokens: random, shown once, stored as a SHA-256 hash, each with scopes and an optional expiry."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from vani import tenancy
from vani.errors import InvalidField, NotFound, check_id
from vani.extensions import db
from vani.models import ApiToken, Scope
from vani.models.base import as_utc, utcnow

PREFIX = "vani_"
LAST_USED_EVERY = timedelta(seconds=60)  # how often a token's last use is written


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values) -> list[str]:
    """Known scopes, in the order given, without repeats; InvalidField for anything else."""
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    if not isinstance(values, (list, tuple)) or not values:
        raise InvalidField("scopes", f"give at least one of {', '.join(Scope)}")
    out = []
    for value in values:
        if value not in set(Scope):
            raise InvalidField("scopes", f"{value!r} is not a scope (use {', '.join(Scope)})")
        if value not in out:
            out.append(str(value))
    return out


def create_token(name: str, scopes=(Scope.READ,), expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create and commit, for the organisation in force; the token itself is returned once and
    never stored."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidField("name", "give a name of 1 to 120 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), prefix=token[:10], scopes=parse_scopes(list(scopes)),
                   expires_at=expires_at, org_id=tenancy.require())
    db.session.add(row)
    db.session.commit()
    return row, token


def list_tokens() -> list[ApiToken]:
    return list(db.session.execute(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).scalars())


def get_token(token_id: int) -> ApiToken:
    row = db.session.get(ApiToken, check_id(token_id, "token"))
    if row is None:
        raise NotFound(f"no token {token_id}")
    return row


def revoke_token(token_id: int) -> ApiToken:
    """Revoke (idempotent) and commit."""
    row = get_token(token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


def authenticate(token: str) -> ApiToken | None:
    """The live token (of any organisation), or None (unknown, revoked or expired). Records its last use."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        .execution_options(unscoped=True)).scalar_one_or_none()  # the token names its organisation
    if row is None or row.expired():
        return None
    now = utcnow()
    last = as_utc(row.last_used_at)
    if last is None or now - last > LAST_USED_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row
