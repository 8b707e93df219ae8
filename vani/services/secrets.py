"""Where a provider's webhook secrets come from: the environment, then secrets Vani stored itself."""
from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import select

from vani.extensions import db

_CACHE_SECONDS = 30.0
_cache: dict[tuple[int, str], tuple[float, list[str]]] = {}


_REFRESH_SECONDS = 1.0  # a flood of bad signatures reloads from the database at most this often


def stored_secrets(provider_name: str, fresh: bool = False) -> list[str]:
    """Secrets stored by ``webhooks register``, cached for a while in this process; ``fresh``
    reloads them unless they were loaded within the last second."""
    from vani.models import ProviderCredential

    key = (id(current_app._get_current_object()), provider_name)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit and (hit[0] > now if not fresh else hit[0] - _CACHE_SECONDS + _REFRESH_SECONDS > now):
        return hit[1]
    rows = db.session.execute(
        select(ProviderCredential.value).where(
            ProviderCredential.provider == provider_name, ProviderCredential.name == "webhook_secret")
    ).scalars().all()
    _cache[key] = (now + _CACHE_SECONDS, list(rows))
    return list(rows)


def forget_cached_secrets() -> None:
    _cache.clear()


def secrets_for(provider, fresh: bool = False) -> list[str]:
    """Every secret that may have signed a call for ``provider`` (any match passes)."""
    found = [current_app.config.get(name) for name in provider.secret_settings]
    found = [s for s in found if s]
    for secret in stored_secrets(provider.name, fresh):
        if secret not in found:
            found.append(secret)
    return found
