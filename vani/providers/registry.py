"""The providers Vani knows. Adding one: create its package, add one line here."""
from __future__ import annotations

from importlib import import_module

PROVIDER_MODULES = [
    "vani.providers.calendly",
    "vani.providers.cal_com",
    "vani.providers.kapso",
    "vani.providers.twilio",
    "vani.providers.gmail",
]


def all_providers():
    return [import_module(path).provider for path in PROVIDER_MODULES]


def get_provider(name: str):
    for provider in all_providers():
        if provider.name == name:
            return provider
    raise KeyError(name)
