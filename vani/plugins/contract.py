"""What a provider plugin is: a verifier, a parser and a mapper behind its webhook URLs, and the
optional parts it may bring (a registrar, a connector, a syncer, a messenger).

A provider package (``vani/providers/<name>/``) defines a ``Provider`` subclass and exposes an
instance as ``provider``; ``vani/providers/registry.py`` lists it once, ``create_app`` keeps the
app's ``ProviderRegistry`` of them and ``vani.inbound`` serves their URLs. Areas import these types
from here and find providers through ``vani.plugins.installed()``, never by importing a provider.
"""
from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify

from vani.models.events import EventStatus
from vani.payloads.safejson import TooDeep, load_json

if TYPE_CHECKING:  # pragma: no cover
    from vani.models import WebhookEvent


class SignatureError(Exception):
    """The call could not be authenticated. ``reason`` is the machine-readable error code."""

    def __init__(self, reason: str, detail: str | None = None, checked_url: str | None = None):
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail
        self.checked_url = checked_url


class BadPayload(Exception):
    """The body cannot be turned into events (not JSON, not an object, missing fields)."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class Authority(enum.StrEnum):
    """Whom a verified call speaks for: the organisation whose URL was called (its own secret, or
    no secret at all), or the whole install (a credential of the install, such as the push
    subscription's OIDC token or a secret from the environment, which any organisation's data may
    follow from)."""
    ORGANISATION = "organisation"
    INSTALL = "install"


class InstallSecret(str):
    """A secret of the install (from the environment), not of one organisation: a verifier that
    matches it may record ``Authority.INSTALL``."""

    __slots__ = ()


@dataclass
class RequestData:
    """What a verifier and parser may look at: raw bytes, headers and the URL as called; the
    verifier records in ``authority`` whom the call speaks for (only Gmail's parser asks)."""

    body: bytes
    headers: Any  # case-insensitive mapping
    url: str
    form: dict[str, str] = field(default_factory=dict)
    remote_addr: str | None = None
    authority: Authority = Authority.ORGANISATION


@dataclass
class Incoming:
    """One event parsed from a verified call, ready to be stored."""

    event_type: str
    dedupe_key: str
    payload: Any
    body: bytes
    # The organisation it belongs to when that is not the one whose URL was called (a Gmail push
    # verified with the install's credentials belongs to whoever connected the mailbox it names).
    org_id: int | None = None


@dataclass
class Outcome:
    """What mapping an event came to: ``processed`` (with an optional note) or ``ignored`` (why)."""

    status: EventStatus
    reason: str | None = None

    @classmethod
    def processed(cls, note: str | None = None) -> "Outcome":
        return cls(EventStatus.PROCESSED, note)

    @classmethod
    def ignored(cls, reason: str) -> "Outcome":
        return cls(EventStatus.IGNORED, reason)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def parse_json_object(body: bytes) -> dict:
    """Decode a JSON object (made safe to store, see ``safejson``) or raise ``BadPayload``."""
    if not body.strip():
        raise BadPayload("empty_body", "the request body is empty")
    try:
        data = load_json(body)
    except TooDeep as exc:
        raise BadPayload("too_deeply_nested", f"the body is {exc}") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadPayload("invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPayload("not_an_object", "the body must be a JSON object")
    return data


class Provider:
    name: str = ""            # stored on events, e.g. "cal_com"
    title: str = ""           # shown to people, e.g. "Cal.com"
    secret_settings: tuple[str, ...] = ()  # config keys holding the secret (each also as <KEY>_PREVIOUS)
    relevant_headers: tuple[str, ...] = ()  # stored with the event (lower-case names)
    max_body_bytes: int | None = None  # tighter than VANI_MAX_BODY_BYTES for this provider
    max_form_fields: int = 1000  # form-encoded bodies only
    webhook: bool = True  # False: no inbound URL (the events come from Vani's own sync)
    handlers: Mapping[str, Any] = {}  # the events its mapper handles (what registration subscribes to)

    # Optional parts, None where the provider has none; each lives in the provider's package.
    registrar: type | None = None  # registers Vani's webhook at the provider (a ``registration.base.Registrar``)
    connector: Any = None  # "Connect <provider>" through OAuth (a ``vani.plugins.oauth.Connector``)
    syncer: Any = None  # fetches what no webhook brought: a module with ``sync`` (a mailbox's: ``sync(mailbox, cfg)``)
    messenger: Any = None  # sends WhatsApp messages (a ``vani.plugins.messaging.Messenger``)

    def verify(self, data: RequestData, secrets: list[str], now: float, tolerance: int) -> None:
        """Raise ``SignatureError`` unless the call is authentic. ``secrets`` are the called
        organisation's (an ``InstallSecret`` among them is the install's); a call verified with the
        install's credentials sets ``data.authority = Authority.INSTALL``, any other leaves it."""
        raise NotImplementedError

    def verifies_without_secrets(self) -> bool:
        """True when calls can be verified with no stored secret (Gmail's OIDC push tokens)."""
        return False

    def parse(self, data: RequestData) -> list[Incoming]:
        """The events in a verified call. Payloads must be storable as they are: decode JSON with
        ``parse_json_object`` / ``safejson.load_json`` and pass other text through ``safejson.clean``
        (no NUL, no lone surrogate, no NaN)."""
        raise NotImplementedError

    def map(self, event: "WebhookEvent", ctx: Any) -> Outcome:
        """What the event means (``ctx``: the processing's ``EventContext``, for the subject it names)."""
        raise NotImplementedError

    def names(self, event: "WebhookEvent") -> tuple[list[str], list[str]]:
        """The prospects' emails and the meetings' refs (this provider's) the event is about, read
        with the rest of its batch before it is mapped. Naming none (the default) or too few
        costs a lookup each when mapped; naming a row the event does not touch costs nothing."""
        return [], []

    def respond(self, status: str, event_ids: list[int], extra: dict) -> Response:
        """The answer to an accepted call; providers with other expectations override it."""
        body: dict[str, Any] = {"status": status}
        if len(event_ids) == 1:
            body["event_id"] = event_ids[0]
        else:
            body["event_ids"] = event_ids
        body.update(extra)
        return jsonify(body)
