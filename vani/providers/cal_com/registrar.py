"""Cal.com webhooks: API v2 ``/v2/webhooks`` (Bearer API key), falling back to v1 ``/v1/webhooks?apiKey=``
(older and self-hosted instances). Vani sends the secret Cal.com signs ``X-Cal-Signature-256`` with."""
from __future__ import annotations

import time
from collections.abc import Callable

from vani.registration.base import Registrar, Remote
from vani.registration.http import ApiClient, ApiError

TRIGGERS = (
    "BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED", "BOOKING_REQUESTED", "BOOKING_REJECTED",
    "BOOKING_PAID", "BOOKING_NO_SHOW_UPDATED", "MEETING_STARTED", "MEETING_ENDED",
    "BOOKING_PAYMENT_INITIATED", "FORM_SUBMITTED", "FORM_SUBMITTED_NO_EVENT", "RECORDING_READY",
    "RECORDING_TRANSCRIPTION_GENERATED", "AFTER_HOSTS_CAL_VIDEO_NO_SHOW", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
)
PAGE_SIZE = 250
V1_FALLBACK_STATUSES = (401, 404, 405, 501)


def _remote(item: dict) -> Remote:
    return Remote(id=str(item.get("id", "")), url=item.get("subscriberUrl", ""),
                  events=list(item.get("triggers") or item.get("eventTriggers") or []),
                  active=bool(item.get("active", True)))


class CalComRegistrar(Registrar):
    name = "cal_com"
    credential_setting = "CAL_COM_API_KEY"
    default_events = TRIGGERS

    def __init__(self, config, sleep: Callable[[float], None] = time.sleep, org=None):
        super().__init__(config, sleep, org)
        key = config.get("CAL_COM_API_KEY") or ""
        base = config["CAL_COM_API_BASE"]
        self.v2 = ApiClient("Cal.com", base, headers={"Authorization": f"Bearer {key}"},
                            credential_hint="CAL_COM_API_KEY", sleep=sleep)
        self.v1 = ApiClient("Cal.com (API v1)", base, params={"apiKey": key},
                            credential_hint="CAL_COM_API_KEY", sleep=sleep)
        self.version: str | None = None  # "v2" or "v1", found on the first call

    def _list_v2(self) -> list[Remote]:
        found, skip = [], 0
        while True:
            data = self.v2.get("/v2/webhooks", params={"take": PAGE_SIZE, "skip": skip}) or {}
            page = data.get("data") or []
            found.extend(_remote(i) for i in page)
            if len(page) < PAGE_SIZE:
                return found
            skip += PAGE_SIZE

    def list_remote(self) -> list[Remote]:
        if self.version != "v1":
            try:
                remotes = self._list_v2()
                self.version = "v2"
                return remotes
            except ApiError as exc:
                if exc.status not in V1_FALLBACK_STATUSES:
                    raise
                v2_error = exc
            try:
                data = self.v1.get("/v1/webhooks") or {}
            except ApiError as exc:
                raise ApiError(f"{v2_error} (and API v1: {exc})", exc.status, exc.detail) from None
            self.version = "v1"
        else:
            data = self.v1.get("/v1/webhooks") or {}
        return [_remote(i) for i in data.get("webhooks") or []]

    def create_remote(self, url: str, events: list[str], secret: str) -> Remote:
        if self.version is None:
            self.list_remote()
        if self.version == "v2":
            data = self.v2.post("/v2/webhooks", json={
                "subscriberUrl": url, "triggers": events, "active": True, "secret": secret})
            return _remote((data or {}).get("data") or {})
        data = self.v1.post("/v1/webhooks", json={
            "subscriberUrl": url, "eventTriggers": events, "active": True, "secret": secret})
        return _remote((data or {}).get("webhook") or {})

    def delete_remote(self, remote: Remote) -> None:
        if self.version is None:
            self.list_remote()
        if self.version == "v2":
            self.v2.delete(f"/v2/webhooks/{remote.id}")
        else:
            self.v1.delete(f"/v1/webhooks/{remote.id}")
