"""The contract between Vani and its provider plugins, and the way areas reach the installed ones.

``contract`` holds the types every provider and area shares (``Provider``, ``RequestData``,
``Incoming``, ``Outcome``, the refusals); ``oauth`` the one "Connect <provider>" flow with its
``Connector``; ``messaging`` what a messenger answers. The app holds a ``ProviderRegistry`` of its
providers (``create_app`` builds it from ``vani/providers/registry.py``'s list): areas never import
``vani.providers``, they ask ``installed()``.
"""
from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app

from vani.plugins.contract import Provider

EXTENSION = "vani.providers"


class ProviderRegistry:
    """Lookups over the installed providers, in the order they are listed."""

    def __init__(self, providers: Iterable[Provider]):
        self._providers = tuple(providers)
        names = [p.name for p in self._providers]
        if len(set(names)) != len(names):
            raise ValueError(f"two providers share a name: {names}")

    def all(self) -> tuple[Provider, ...]:
        return self._providers

    def names(self) -> set[str]:
        return {p.name for p in self._providers}

    def webhook(self) -> tuple[Provider, ...]:
        """The providers that call Vani (each has its webhook URLs)."""
        return tuple(p for p in self._providers if p.webhook)

    def get(self, name: str) -> Provider:
        for provider in self._providers:
            if provider.name == name:
                return provider
        raise KeyError(name)

    def with_part(self, part: str) -> tuple[Provider, ...]:
        """The providers that bring an optional part (``registrar``, ``connector``, ``syncer``,
        ``messenger``)."""
        return tuple(p for p in self._providers if getattr(p, part) is not None)

    @staticmethod
    def webhook_paths(provider: Provider, org_key: str | None = None) -> list[str]:
        """The provider's inbound URL paths as ``vani.inbound`` serves them (the first is the main
        one): an organisation's (``org_key``), or the default organisation's URLs without a key."""
        endpoint = f"inbound.{provider.name}"
        rules = [rule for rule in current_app.url_map.iter_rules() if rule.endpoint == endpoint]
        if org_key is None:
            paths = [rule.rule for rule in rules if not rule.arguments]
            return paths[::-1]  # stacked route decorators register bottom-up: the top one is the main URL
        return [rule.rule.replace("<org_key>", org_key) for rule in rules if "org_key" in rule.arguments]


def install(app: Flask, registry: ProviderRegistry) -> None:
    """Keep the app's providers (``create_app`` does it once)."""
    app.extensions[EXTENSION] = registry


def installed() -> ProviderRegistry:
    """The providers of the app in force."""
    return current_app.extensions[EXTENSION]
