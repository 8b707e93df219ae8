"""The webhook URLs to paste into each provider's settings (for empty states and the overview)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from vani.providers.registry import all_providers, webhook_paths
from vani.services.secrets import secrets_for


@dataclass
class ProviderUrls:
    name: str
    title: str
    urls: list[str]
    configured: bool


def public_base() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def provider_urls() -> list[ProviderUrls]:
    base = public_base()
    out = []
    for p in all_providers():
        configured = bool(secrets_for(p))
        out.append(ProviderUrls(p.name, p.title or p.name, [base + r for r in webhook_paths(p)], configured))
    return out
