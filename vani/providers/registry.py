"""The providers Vani knows, listed once as objects. Adding one: create its package, import its
``provider`` here and add it to ``PROVIDERS``; its URLs are written in ``vani.inbound``."""
from __future__ import annotations

from flask import current_app

from vani.providers.cal_com import provider as cal_com
from vani.providers.calendly import provider as calendly
from vani.providers.gmail import provider as gmail
from vani.providers.imap import provider as imap
from vani.providers.kapso import provider as kapso
from vani.providers.twilio import provider as twilio

PROVIDERS = (calendly, cal_com, kapso, twilio, gmail, imap)


def all_providers():
    return PROVIDERS


def webhook_providers():
    """The providers that call Vani (each has its webhook URLs)."""
    return tuple(p for p in PROVIDERS if p.webhook)


def get_provider(name: str):
    for provider in PROVIDERS:
        if provider.name == name:
            return provider
    raise KeyError(name)


def webhook_paths(provider, org_key: str | None = None) -> list[str]:
    """The provider's inbound URL paths as ``vani.inbound`` serves them (the first is the main one):
    an organisation's (``org_key``), or the default organisation's URLs without a key."""
    endpoint = f"inbound.{provider.name}"
    rules = [rule for rule in current_app.url_map.iter_rules() if rule.endpoint == endpoint]
    if org_key is None:
        paths = [rule.rule for rule in rules if not rule.arguments]
        return paths[::-1]  # stacked route decorators register bottom-up: the top one is the main URL
    return [rule.rule.replace("<org_key>", org_key) for rule in rules if "org_key" in rule.arguments]
