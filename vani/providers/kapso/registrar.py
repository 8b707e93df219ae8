"""Kapso WhatsApp webhooks, per phone number (Kapso Platform API v1, ``X-API-Key``):
``/platform/v1/whatsapp/phone_numbers/{phone_number_id}/webhooks``. Vani sends the ``secret_key``
Kapso signs ``X-Webhook-Signature`` with. Needs ``KAPSO_API_KEY`` and ``KAPSO_PHONE_NUMBER_ID``."""
from __future__ import annotations

import time
from collections.abc import Callable

from vani.providers.kapso.api_base import root
from vani.registration.base import Registrar, Remote
from vani.registration.http import ApiClient

EVENTS = (
    "whatsapp.message.received", "whatsapp.message.sent", "whatsapp.message.delivered",
    "whatsapp.message.read", "whatsapp.message.failed", "whatsapp.conversation.created",
    "whatsapp.conversation.ended",
)
PAGE_SIZE = 100


def _remote(item: dict) -> Remote:
    return Remote(id=str(item.get("id", "")), url=item.get("url", ""), events=list(item.get("events") or []),
                  active=bool(item.get("active", True)))


class KapsoRegistrar(Registrar):
    name = "kapso"
    credential_setting = "KAPSO_API_KEY"
    default_events = EVENTS

    def __init__(self, config, sleep: Callable[[float], None] = time.sleep, org=None):
        super().__init__(config, sleep, org)
        self.client = ApiClient("Kapso", root(config.get("KAPSO_API_BASE") or config.get("KAPSO_API_BASE_URL")),
                                headers={"X-API-Key": config.get("KAPSO_API_KEY") or ""},
                                credential_hint="KAPSO_API_KEY", sleep=sleep)

    def missing(self) -> str | None:
        return super().missing() or (None if self.config.get("KAPSO_PHONE_NUMBER_ID")
                                     else "KAPSO_PHONE_NUMBER_ID is not set (the WhatsApp number's id in Kapso)")

    @property
    def path(self) -> str:
        return f"/platform/v1/whatsapp/phone_numbers/{self.config['KAPSO_PHONE_NUMBER_ID']}/webhooks"

    def list_remote(self) -> list[Remote]:
        found, page = [], 1
        while True:
            data = self.client.get(self.path, params={"page": page, "per_page": PAGE_SIZE}) or {}
            found.extend(_remote(i) for i in data.get("data") or [])
            meta = data.get("meta") or {}
            if page >= int(meta.get("total_pages") or 1):
                return found
            page += 1

    def create_remote(self, url: str, events: list[str], secret: str) -> Remote:
        data = self.client.post(self.path, json={"whatsapp_webhook": {
            "url": url, "secret_key": secret, "events": events, "kind": "kapso", "active": True}})
        return _remote((data or {}).get("data") or {})

    def delete_remote(self, remote: Remote) -> None:
        self.client.delete(f"{self.path}/{remote.id}")
