"""Calendly v2 webhook subscriptions (``/webhook_subscriptions``).

Organization scope when the token's user is an admin, else user scope (without routing form
submissions, which Calendly offers at organization scope only). Calendly signs calls with the
``signing_key`` sent at creation and never shows it again, so Vani generates and stores it.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from vani.registration.base import Registrar, Remote
from vani.registration.http import ApiClient, ApiError

EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted",
          "routing_form_submission.created")
ORGANIZATION_ONLY = ("routing_form_submission.created",)
PAGE_SIZE = 100


def calendly_client(config, sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    return ApiClient("Calendly", config["CALENDLY_API_BASE"],
                     headers={"Authorization": f"Bearer {config.get('CALENDLY_API_TOKEN') or ''}"},
                     credential_hint="CALENDLY_API_TOKEN", sleep=sleep)


def current_user(client: ApiClient) -> dict:
    """``GET /users/me``: the token's user, with ``uri`` and ``current_organization``."""
    resource = (client.get("/users/me") or {}).get("resource") or {}
    if not resource.get("uri") or not resource.get("current_organization"):
        raise ApiError("Calendly's /users/me answer has no user uri or current_organization")
    return resource


def paginate(client: ApiClient, path: str, params: dict) -> list[dict]:
    """Every item of a Calendly collection, following ``next_page_token`` (or ``next_page``)."""
    items: list[dict] = []
    query, url = dict(params), path
    while True:
        data = client.get(url, params=query) or {}
        items.extend(data.get("collection") or [])
        pagination = data.get("pagination") or {}
        if pagination.get("next_page_token"):
            query = {**params, "page_token": pagination["next_page_token"]}
            url = path
        elif pagination.get("next_page"):
            url, query = pagination["next_page"], {}
        else:
            return items


def uuid_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class CalendlyRegistrar(Registrar):
    name = "calendly"
    credential_setting = "CALENDLY_API_TOKEN"
    default_events = EVENTS

    def __init__(self, config, sleep: Callable[[float], None] = time.sleep, org=None):
        super().__init__(config, sleep, org)
        self.client = calendly_client(config, sleep)
        self._me: dict | None = None
        self.scope = "organization"
        self._listed: list[Remote] | None = None  # the listing that settled the scope, not yet used

    @property
    def me(self) -> dict:
        if self._me is None:
            self._me = current_user(self.client)
        return self._me

    def _scope_params(self) -> dict:
        params = {"organization": self.me["current_organization"], "scope": self.scope}
        if self.scope == "user":
            params["user"] = self.me["uri"]
        return params

    def events(self) -> list[str]:
        """The events to subscribe to in the scope the token allows (listing settles it)."""
        if self._listed is None:
            self._listed = self._list()
        return self._in_scope(super().events())

    def _in_scope(self, events: list[str]) -> list[str]:
        return [e for e in events if e not in ORGANIZATION_ONLY] if self.scope == "user" else list(events)

    def list_remote(self) -> list[Remote]:
        listed, self._listed = self._listed, None
        return listed if listed is not None else self._list()

    def _list(self) -> list[Remote]:
        try:
            items = paginate(self.client, "/webhook_subscriptions", {**self._scope_params(), "count": PAGE_SIZE})
        except ApiError as exc:
            if exc.status != 403 or self.scope == "user":
                raise
            self.scope = "user"  # not an organization admin: user-scoped subscriptions only
            items = paginate(self.client, "/webhook_subscriptions", {**self._scope_params(), "count": PAGE_SIZE})
        return [Remote(id=i.get("uri", ""), url=i.get("callback_url", ""), events=list(i.get("events") or []),
                       active=i.get("state", "active") == "active") for i in items]

    def create_remote(self, url: str, events: list[str], secret: str) -> Remote:
        body = {"url": url, "events": events, **self._scope_params(), "signing_key": secret}
        try:
            data = self.client.post("/webhook_subscriptions", json=body)
        except ApiError as exc:
            if exc.status != 403 or self.scope == "user":
                raise
            self.scope = "user"
            body = {"url": url, "events": self._in_scope(events), **self._scope_params(), "signing_key": secret}
            data = self.client.post("/webhook_subscriptions", json=body)
        resource = (data or {}).get("resource") or {}
        return Remote(id=resource.get("uri", ""), url=resource.get("callback_url", url),
                      events=list(resource.get("events") or events))

    def delete_remote(self, remote: Remote) -> None:
        self.client.delete(f"/webhook_subscriptions/{uuid_of(remote.id)}")
