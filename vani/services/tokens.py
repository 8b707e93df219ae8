"""API tokens: random, shown once, stored as a SHA-256 hash."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from vani.extensions import db
from vani.models import ApiToken
from vani.models.base import utcnow

PREFIX = "vani_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str) -> tuple[ApiToken, str]:
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), prefix=token[:10])
    db.session.add(row)
    db.session.commit()
    return row, token


def authenticate(token: str) -> ApiToken | None:
    if not token:
        return None
    row = db.session.execute(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    if row is not None:
        now = utcnow()
        last = row.last_used_at
        if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo))).total_seconds() > 60:
            row.last_used_at = now
            db.session.commit()
    return row
