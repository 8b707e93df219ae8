"""Where a provider's webhook secrets come from, per organisation: secrets stored in the database
(``webhooks register``, ``webhooks set-secret``, a provider connection; encrypted at rest) and,
for the default organisation only, the environment. A replaced stored secret is kept as the
previous one for ``PREVIOUS_WINDOW``, so no call signed with it is lost.

The environment's secrets are the install's (``InstallSecret``): a Gmail push verified with
``GMAIL_PUSH_TOKEN`` reaches every organisation that connected the mailbox, while a stored
secret, even the default organisation's, speaks for its own organisation only.

A stored secret none of ``VANI_ENCRYPTION_KEYS`` can decrypt (written under a key that is no
longer, or not yet, configured) fails alone: it is left out of the secrets and listed by
``unreadable_secrets``, so only its own provider's calls are refused (``503 secret_unreadable``,
and the provider retries) until it is stored again or its key is restored."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value

from vani import crypto, orgs, tenancy
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
# (app, org id, provider) → (loaded at, secrets, the ones no key can read)
_cache: TTLCache[tuple[int, int, str], tuple[float, list[str], list[Unreadable]]] = TTLCache(
    _CACHE_SIZE, _CACHE_SECONDS)
_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unreadable:
    """A stored credential none of the configured keys can decrypt."""
    org_id: int
    provider: str
    name: str  # webhook_secret, webhook_secret_previous, or an API setting (kapso_api_key …)
    since: datetime  # when it was stored

    @property
    def label(self) -> str:
        return {SECRET_NAME: "webhook signing secret", PREVIOUS_NAME: "previous webhook signing secret"}.get(
            self.name, self.name.upper())


def _in_use(name: str, updated_at: datetime, cutoff: datetime) -> bool:
    return name != PREVIOUS_NAME or as_utc(updated_at) > cutoff


def _load(provider_name: str, org_id: int) -> tuple[list[str], list[Unreadable]]:
    rows = db.session.execute(select(
        ProviderCredential.name, crypto.token(ProviderCredential.value), ProviderCredential.updated_at).where(
        ProviderCredential.org_id == org_id, ProviderCredential.provider == provider_name,
        ProviderCredential.name.in_((SECRET_NAME, PREVIOUS_NAME))).execution_options(unscoped=True)).all()
    cutoff = utcnow() - PREVIOUS_WINDOW
    found, unreadable = [], []
    for name, token, updated_at in sorted(rows, key=lambda r: r[0] != SECRET_NAME):
        if not _in_use(name, updated_at, cutoff):
            continue
        value = crypto.readable(token)
        if value is None:
            unreadable.append(Unreadable(org_id, provider_name, name, as_utc(updated_at)))
            log.error("the stored %s %s of organisation %s cannot be decrypted with VANI_ENCRYPTION_KEYS: "
                      "store it again (flask vani webhooks set-secret) or restore its key", provider_name, name, org_id)
        else:
            found.append(value)
    return found, unreadable


def _cached(provider_name: str, org_id: int, fresh: bool) -> tuple[list[str], list[Unreadable]]:
    key = (id(current_app._get_current_object()), org_id, provider_name)
    with _lock:
        hit = _cache.get(key)
    now = time.monotonic()
    if hit and (not fresh or hit[0] + _REFRESH_SECONDS > now):
        return list(hit[1]), list(hit[2])
    found, unreadable = _load(provider_name, org_id)
    with _lock:
        _cache[key] = (now, found, unreadable)
    return list(found), list(unreadable)


def stored_secrets(provider_name: str, org_id: int, fresh: bool = False) -> list[str]:
    """Stored secrets (the current one, then the previous one within its window), cached for a
    while in this process; ``fresh`` reloads them unless they were loaded within the last second.
    One no key can decrypt is left out (see ``unreadable_secrets``)."""
    return _cached(provider_name, org_id, fresh)[0]


def unreadable_secrets(provider_name: str, org_id: int, fresh: bool = False) -> list[Unreadable]:
    """The provider's stored webhook secrets in use that no key can decrypt (cached as
    ``stored_secrets`` is)."""
    return _cached(provider_name, org_id, fresh)[1]


def unreadable_credentials(org_id: int) -> list[Unreadable]:
    """Every stored credential of the organisation in use (signing secrets, API settings) that no
    key can decrypt, oldest first."""
    rows = db.session.execute(select(
        ProviderCredential.provider, ProviderCredential.name, crypto.token(ProviderCredential.value),
        ProviderCredential.updated_at).where(ProviderCredential.org_id == org_id)
        .order_by(ProviderCredential.updated_at, ProviderCredential.id).execution_options(unscoped=True)).all()
    cutoff = utcnow() - PREVIOUS_WINDOW
    return [Unreadable(org_id, provider, name, as_utc(updated_at)) for provider, name, token, updated_at in rows
            if _in_use(name, updated_at, cutoff) and crypto.readable(token) is None]


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
    """The organisation in force's stored credential ``name`` for the provider; its ``value`` is
    None when no key can decrypt it (the database keeps it until a new value is assigned)."""
    found = db.session.execute(select(ProviderCredential, crypto.token(ProviderCredential.value)).where(
        ProviderCredential.provider == provider_name, ProviderCredential.name == name)
        .options(defer(ProviderCredential.value))).one_or_none()
    if found is None:
        return None
    row, token = found
    set_committed_value(row, "value", crypto.readable(token))
    return row


def store_secret(provider_name: str, secret: str, external_id: str | None = None, url: str | None = None) -> None:
    """Store (encrypted) the provider's webhook secret for the organisation in force and commit;
    a different one it replaces stays accepted for ``PREVIOUS_WINDOW`` (one no key can read is
    simply overwritten: nothing could be verified with it)."""

    org_id = tenancy.require()
    row = stored_credential(provider_name)
    if row is None:
        row = ProviderCredential(org_id=org_id, provider=provider_name, name=SECRET_NAME)
        db.session.add(row)
    elif row.value is not None and row.value != secret:
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
