"""Where a provider's webhook secrets come from, per organisation: secrets stored in the database
(``webhooks register``, ``webhooks set-secret``, a provider connection; encrypted at rest) and,
for the default organisation only, the environment. A replaced stored secret is kept as the
previous one for ``PREVIOUS_WINDOW``, so no call signed with it is lost.

The environment's secrets are the install's (``InstallSecret``): a Gmail push verified with
``GMAIL_PUSH_TOKEN`` reaches every organisation that connected the mailbox, while a stored
secret, even the default organisation's, speaks for its own organisation only."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import select

from vani import orgs, tenancy
from vani.extensions import db
from vani.models import ProviderCredential
from vani.models.base import as_utc, utcnow
from vani.plugins.contract import InstallSecret

SECRET_NAME = "webhook_secret"
PREVIOUS_NAME = "webhook_secret_previous"
PREVIOUS_WINDOW = timedelta(hours=24)
_CACHE_SECONDS = 30.0
_REFRESH_SECONDS = 1.0  # a flood of bad signatures reloads from the database at most this often
_CACHE_SIZE = 4096  # (organisation, provider) pairs; the least recently used go first
# (app, org id, provider) → (loaded at, secrets)
_cache: TTLCache[tuple[int, int, str], tuple[float, list[str]]] = TTLCache(_CACHE_SIZE, _CACHE_SECONDS)
_lock = threading.Lock()


def stored_secrets(provider_name: str, org_id: int, fresh: bool = False) -> list[str]:
    """Stored secrets (the current one, then the previous one within its window), cached for a
    while in this process; ``fresh`` reloads them unless they were loaded within the last second."""
    key = (id(current_app._get_current_object()), org_id, provider_name)
    with _lock:
        hit = _cache.get(key)
    now = time.monotonic()
    if hit and (not fresh or hit[0] + _REFRESH_SECONDS > now):
        return list(hit[1])
    rows = db.session.execute(select(ProviderCredential).where(
        ProviderCredential.org_id == org_id, ProviderCredential.provider == provider_name,
        ProviderCredential.name.in_((SECRET_NAME, PREVIOUS_NAME))).execution_options(unscoped=True)).scalars().all()
    cutoff = utcnow() - PREVIOUS_WINDOW
    found = [r.value for r in sorted(rows, key=lambda r: r.name != SECRET_NAME)
             if r.name == SECRET_NAME or as_utc(r.updated_at) > cutoff]
    with _lock:
        _cache[key] = (now, found)
    return list(found)


def forget_cached_secrets() -> None:
    with _lock:
        _cache.clear()


def secrets_for(provider, org_id: int, fresh: bool = False) -> list[str]:
    """Every secret that may have signed a call for ``provider`` to ``org_id`` (any match passes):
    for the default organisation its settings and their ``_PREVIOUS`` twins (so rotating a secret
    at the provider loses no call), then the stored ones."""

    found = []
    if org_id == orgs.default_id():
        names = [n for name in provider.secret_settings for n in (name, f"{name}_PREVIOUS")]
        found = [InstallSecret(s) for s in (current_app.config.get(name) for name in names) if s]
    for secret in stored_secrets(provider.name, org_id, fresh):
        if secret not in found:
            found.append(secret)
    return found


def stored_credential(provider_name: str, name: str = SECRET_NAME) -> ProviderCredential | None:
    """The organisation in force's stored credential ``name`` for the provider."""
    return db.session.execute(select(ProviderCredential).where(
        ProviderCredential.provider == provider_name, ProviderCredential.name == name)).scalar_one_or_none()


def store_secret(provider_name: str, secret: str, external_id: str | None = None, url: str | None = None) -> None:
    """Store (encrypted) the provider's webhook secret for the organisation in force and commit;
    a different one it replaces stays accepted for ``PREVIOUS_WINDOW``."""

    org_id = tenancy.require()
    row = stored_credential(provider_name)
    if row is None:
        row = ProviderCredential(org_id=org_id, provider=provider_name, name=SECRET_NAME)
        db.session.add(row)
    elif row.value != secret:
        previous = stored_credential(provider_name, PREVIOUS_NAME)
        if previous is None:
            previous = ProviderCredential(org_id=org_id, provider=provider_name, name=PREVIOUS_NAME)
            db.session.add(previous)
        previous.value, previous.updated_at = row.value, utcnow()
    row.value = secret
    if external_id is not None or url is not None:
        row.external_id, row.callback_url = external_id, url
    row.updated_at = utcnow()
    db.session.commit()
    forget_cached_secrets()


def forget_secret(provider_name: str, external_id: str) -> bool:
    """Delete the organisation in force's stored secret for the provider when it belongs to the
    subscription ``external_id`` (a disconnected provider no longer signs with it). Commits."""
    row = stored_credential(provider_name)
    if row is None or row.external_id != external_id:
        return False
    db.session.delete(row)
    db.session.commit()
    forget_cached_secrets()
    return True
