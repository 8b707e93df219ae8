"""Which providers Vani can register its webhooks at (those whose plugin brings a registrar), and a
registrar ready for each."""
from __future__ import annotations

import time
from collections.abc import Callable

from vani import plugins
from vani.registration.base import Registrar, Remote, Step, register, stored_credential  # noqa: F401
from vani.registration.http import ApiError  # noqa: F401


def normalize_name(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def registrar_names() -> list[str]:
    """The installed providers with a registrar, in the order they are listed."""
    return [p.name for p in plugins.installed().with_part("registrar")]


def make_registrar(name: str, config, sleep: Callable[[float], None] = time.sleep, org=None) -> Registrar:
    return plugins.installed().get(name).registrar(config, sleep, org)


def registrars(config, only: list[str] | None = None, sleep: Callable[[float], None] = time.sleep,
               org=None) -> list[tuple[str, Registrar | None, str | None]]:
    """``(name, registrar, None)`` for each provider ready to register, or ``(name, None, reason)``.
    ``config`` is the settings as ``org`` sees them (``provider_settings.config_for``)."""
    known = registrar_names()
    names = [normalize_name(n) for n in only] if only else known
    result: list[tuple[str, Registrar | None, str | None]] = []
    for name in names:
        if name not in known:
            result.append((name, None, f"Vani cannot register webhooks at {name!r} (known: {', '.join(known)})"))
        else:
            registrar = make_registrar(name, config, sleep, org)
            missing = registrar.missing()
            result.append((name, None if missing else registrar, missing))
    return result
