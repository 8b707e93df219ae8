"""Which providers Vani can register its webhooks at, and a registrar ready for each."""
from __future__ import annotations

import time
from collections.abc import Callable

from vani.providers.cal_com.registrar import CalComRegistrar
from vani.providers.calendly.registrar import CalendlyRegistrar
from vani.providers.kapso.registrar import KapsoRegistrar
from vani.registration.base import Registrar, Remote, Step, register, stored_credential  # noqa: F401
from vani.registration.http import ApiError  # noqa: F401

REGISTRARS: dict[str, type[Registrar]] = {
    "calendly": CalendlyRegistrar,
    "cal_com": CalComRegistrar,
    "kapso": KapsoRegistrar,
}


def normalize_name(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def installed_providers() -> set[str]:
    from vani.providers.registry import all_providers

    return {p.name for p in all_providers()}


def make_registrar(name: str, config, sleep: Callable[[float], None] = time.sleep, org=None) -> Registrar:
    return REGISTRARS[name](config, sleep, org)


def registrars(config, only: list[str] | None = None, sleep: Callable[[float], None] = time.sleep,
               org=None) -> list[tuple[str, Registrar | None, str | None]]:
    """``(name, registrar, None)`` for each provider ready to register, or ``(name, None, reason)``.
    ``config`` is the settings as ``org`` sees them (``provider_settings.config_for``)."""
    installed = installed_providers()
    names = [normalize_name(n) for n in only] if only else list(REGISTRARS)
    result: list[tuple[str, Registrar | None, str | None]] = []
    for name in names:
        if name not in REGISTRARS:
            result.append((name, None, f"Vani cannot register webhooks at {name!r} "
                                       f"(known: {', '.join(REGISTRARS)})"))
        elif name not in installed:
            result.append((name, None, "that provider is not installed in this Vani yet"))
        else:
            registrar = make_registrar(name, config, sleep, org)
            missing = registrar.missing()
            result.append((name, None if missing else registrar, missing))
    return result
