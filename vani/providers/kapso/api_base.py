"""Where Kapso's API lives, whatever form its base URL is given in.

Kapso's guides give the base URL in several forms: ``https://api.kapso.ai``,
``https://app.kapso.ai/api/v1`` (the older app host and API prefix), or with the Meta proxy's
``/meta/whatsapp`` (and a version) already on it. Vani appends its own paths (the Meta-style
``/meta/whatsapp/{version}/{phone_number_id}/messages``, the Platform API's ``/platform/v1/…``),
so every form is reduced to the API's root first. A base URL of another host (a proxy, a test
server) keeps its host and any other path.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ROOT = "https://api.kapso.ai"
META_VERSION = "v24.0"
# Kapso's older app host answers the API under /api/v1; the API itself lives on api.kapso.ai.
HOSTS = {"app.kapso.ai": "api.kapso.ai", "www.kapso.ai": "api.kapso.ai", "kapso.ai": "api.kapso.ai"}
# Path endings a base URL may carry that Vani appends itself (stripped from the end, repeatedly).
_TAIL = re.compile(r"/(?:api(?:/v\d+)?|platform(?:/v\d+)?|meta/whatsapp(?:/v\d+(?:\.\d+)?)?|meta)$", re.I)


def root(base: str | None) -> str:
    """The API's root for a configured base URL (``None`` or blank: Kapso's own)."""
    raw = (base or "").strip() or DEFAULT_ROOT
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    host = (parts.hostname or "").lower()
    netloc = HOSTS[host] if host in HOSTS else parts.netloc
    path = parts.path.rstrip("/")
    while (tail := _TAIL.search(path)) is not None:
        path = path[:tail.start()].rstrip("/")
    return urlunsplit((parts.scheme or "https", netloc, path, "", ""))


def configured_root(cfg) -> str:
    """The root from the settings (``KAPSO_API_BASE_URL``, or the older ``KAPSO_API_BASE``)."""
    return root(cfg.get("KAPSO_API_BASE_URL") or cfg.get("KAPSO_API_BASE"))


def send_url(cfg, phone_number_id: str) -> str:
    """Where a WhatsApp message from ``phone_number_id`` is posted (Meta's Cloud API shape)."""
    return f"{configured_root(cfg)}/meta/whatsapp/{META_VERSION}/{phone_number_id}/messages"


def templates_url(cfg, business_account_id: str) -> str:
    """Where the WhatsApp Business Account's message templates are listed (Meta's shape)."""
    return f"{configured_root(cfg)}/meta/whatsapp/{META_VERSION}/{business_account_id}/message_templates"
