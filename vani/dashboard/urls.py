"""The webhook URLs to paste into each provider's settings (for empty states and the overview)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from vani import orgs, plugins
from vani.models import Organisation
from vani.orgs.secrets import secrets_for, unreadable_secrets


@dataclass
class ProviderUrls:
    name: str
    title: str
    urls: list[str]
    configured: bool
    unreadable: bool = False  # a stored secret no key can decrypt: its calls are answered 503
    key: str = ""  # the organisation's key, which the recommended URL carries

    @property
    def recommended(self) -> str | None:
        """The one URL to paste: the organisation's own."""
        return self.urls[0] if self.urls else None

    @property
    def aliases(self) -> list[tuple[str, str]]:
        """The other URLs the provider's calls are also accepted at, each with why it exists."""
        return [(u, "the same organisation, another spelling" if self.key and self.key in u
                 else "without the organisation key, kept for set-ups from before organisations")
                for u in self.urls[1:]]


def public_base() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def provider_urls(org: Organisation | None = None) -> list[ProviderUrls]:
    """Each provider's webhook URLs for the organisation (in force unless given): its own, keyed
    ones, and for the default organisation also the URLs from before organisations existed."""
    org = org or orgs.in_force()
    base = public_base()
    out = []
    providers = plugins.installed()
    for p in providers.webhook():
        configured = bool(secrets_for(p, org.id))
        paths = providers.webhook_paths(p, org.key) + (providers.webhook_paths(p) if org.is_default else [])
        out.append(ProviderUrls(p.name, p.title or p.name, [base + r for r in paths], configured,
                                bool(unreadable_secrets(p.name, org.id)), org.key))
    return out


def webhook_url(provider_name: str, org_id: int) -> str | None:
    """The organisation's URL for one provider, for callbacks Vani asks for itself (Twilio's
    ``StatusCallback``); None without ``PUBLIC_URL`` (a worker has no request to take a host from)."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        return None
    providers = plugins.installed()
    paths = providers.webhook_paths(providers.get(provider_name), orgs.get(org_id).key)
    return base.rstrip("/") + paths[0] if paths else None
