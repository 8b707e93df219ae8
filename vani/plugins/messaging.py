"""What a provider's messenger (the part that sends WhatsApp messages) answers: ``Accepted`` with
the provider's message id, or ``SendError`` saying whether trying again can help (5xx, 429 and
timeouts can; any other 4xx cannot). ``vani.conversations.sending`` calls the conversation's
provider's messenger; Kapso's and Twilio's live in their packages. A messenger also lists the
organisation's approved templates (``Template``, or ``TemplateListError``), which
``vani.conversations.templates`` offers to whoever starts a conversation."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from vani.models import Conversation


@dataclass
class Accepted:
    provider_message_id: str | None
    http_status: int | None = None


class SendError(Exception):
    def __init__(self, message: str, *, retry: bool, code: str | None = None, http_status: int | None = None,
                 retry_after: str | None = None):
        super().__init__(message)
        self.message, self.retry, self.code = message, retry, code
        self.http_status, self.retry_after = http_status, retry_after


@dataclass(frozen=True)
class Template:
    """An approved template as a send names it: ``name`` is what ``{"template": {"name"}}`` takes
    (Meta's template name; Twilio's Content SID, ``HX…``), ``label`` what people call it when the
    name is an id (Twilio's friendly name), ``variables`` the values it takes in order: the body's
    placeholders, and a Kapso template's header and button values (``HEADER``, ``MEDIA``, ``BUTTON``)."""
    name: str
    language: str
    category: str | None
    body: str
    variables: tuple[str, ...] = ()
    label: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "variables": list(self.variables)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Template:
        return cls(name=data["name"], language=data["language"], category=data.get("category"),
                   body=data.get("body") or "", variables=tuple(data.get("variables") or ()), label=data.get("label"))


class TemplateListError(Exception):
    """The templates could not be listed: ``configured`` is False when a setting is missing (and
    nothing was called), True when the provider failed or did not answer."""

    def __init__(self, message: str, *, configured: bool = True, http_status: int | None = None):
        super().__init__(message)
        self.message, self.configured, self.http_status = message, configured, http_status


# A template's values other than its body's (Meta's header and buttons; see the Kapso messenger).
HEADER, MEDIA, BUTTON = "header.", "media.", "button."
MEDIA_HEADERS = ("image", "video", "document")


def variable_label(name: str) -> str:
    """What a form calls the field for one of a template's values."""
    if name.startswith(MEDIA):
        return f"Header {name.removeprefix(MEDIA)}: its https:// link"
    if name.startswith(HEADER):
        return f"Header value for {{{{{name.removeprefix(HEADER)}}}}}"
    if name.startswith(BUTTON) and name.removeprefix(BUTTON).isdecimal():
        return f"End of button {int(name.removeprefix(BUTTON)) + 1}'s link"
    return f"Value for {{{{{name}}}}}"


MAX_LINK = 2048


def media_problem(name: str, link: str) -> str | None:
    """Why a media value cannot go (Meta fetches the link itself), or None."""
    if name.removeprefix(MEDIA) not in MEDIA_HEADERS:
        return f"{name} is no header media Vani sends: {', '.join(MEDIA + m for m in MEDIA_HEADERS)}"
    if not link.startswith("https://"):
        return f"{name} is the header's media: give its https:// link"
    if len(link) > MAX_LINK:
        return f"{name} is longer than {MAX_LINK} characters"
    return None


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def variable_names(names: Iterable[str]) -> tuple[str, ...]:
    """Placeholder names once each, numbers in their order (``2`` before ``10``), others as met."""
    unique = list(dict.fromkeys(str(n) for n in names))
    if all(n.isdecimal() for n in unique):
        unique.sort(key=int)
    return tuple(unique)


def placeholders(text: str) -> tuple[str, ...]:
    """The ``{{1}}`` / ``{{first_name}}`` placeholders of a template's body."""
    return variable_names(PLACEHOLDER.findall(text or ""))


def retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


LIST_SECONDS = 4.0  # a template list is asked while a page is drawn: a provider that is down costs this at most


def list_timeout(cfg: Mapping) -> float:
    """How long listing the templates may take in all: the send timeout, at most ``LIST_SECONDS``."""
    return min(timeout(cfg), LIST_SECONDS)


def timeout(cfg: Mapping) -> float:
    """How long one call to a provider may take (``VANI_SEND_TIMEOUT_SECONDS``): 10 s unless set, at
    least 1 s (a fraction of a second is taken as given)."""
    seconds = float(cfg.get("VANI_SEND_TIMEOUT_SECONDS") or 10)
    return seconds if 0 < seconds < 1 else max(seconds, 1.0)


class Messenger:
    """Sends a conversation's messages through its provider; ``cfg`` is the settings as the
    conversation's organisation sees them."""

    def settings(self, conv: Conversation, cfg: Mapping) -> Mapping:
        """``cfg`` with whatever else the calls for ``conv`` need from the database (a stored
        secret, a callback URL). It runs before a call, in the thread that holds the database
        session; ``send`` and ``mark_read`` then read nothing from the database, as they run on a
        send thread with a copy of the conversation."""
        return cfg

    def send(self, conv: Conversation, payload: Mapping, cfg: Mapping) -> Accepted:
        """A text (``{"text": …}``) or a template (``{"template": {"name", "language", "variables"}}``)."""
        raise NotImplementedError

    def mark_read(self, conv: Conversation, message_id: str, cfg: Mapping) -> Accepted:
        """A read receipt for the customer's message ``message_id``."""
        raise SendError(f"Vani cannot send read receipts through {conv.provider}", retry=False, code="unsupported")

    def templates(self, org_id: int, cfg: Mapping) -> list[Template]:
        """The organisation's approved WhatsApp templates, asked of the provider now (in the
        thread that holds the database session); ``TemplateListError`` when it cannot say."""
        raise TemplateListError("this provider cannot list its templates", configured=False)
