"""What a subscriber's secrets look like to someone who may not see them: a URL's user
information, its path segments that look like keys and its query values, custom header values, a
receiver's replies and the errors that quote them.

Seeing them takes the ``subscriptions`` scope (an API token) or the admin role (the dashboard);
every other caller gets the masked values from ``conceal``, in the API and the dashboard alike.

A URL path often carries the key itself (Slack's ``/services/T…/B…/<secret>``, Discord's
``/api/webhooks/<id>/<token>``), so a path segment is shown only when it is plainly a word
(``WORD``): at most 16 characters, letters in parts joined by ``-``, ``_`` or ``.`` (lower case,
an initial capital allowed) with at most two digits at the end (``v1``), or a number of at most
8 digits. Every other segment is hidden: ``https://hooks.example.com/hooks/vani`` stays readable,
``https://hooks.slack.com/services/•••/•••/•••`` does not tell the key.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

HIDDEN = "•••"
# The headers Vani itself puts on a delivery (signing.request_headers); every other one is the
# subscription's own and may hold a key.
OWN_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"})
SHORTEST = 3  # a shorter value is hidden where it has its place (a password, a query value), not everywhere

WORD = re.compile(r"(?=.{1,16}$)(?:[A-Za-z][a-z]*(?:[-_.][a-z]+)*[0-9]{0,2}|[0-9]{1,8})")
_USERINFO = re.compile(r"(?<=://)[^/?#\s@'\"<>]+@")  # a user name alone (a token) is hidden as well
_QUERY_VALUE = re.compile(r"([?&][^=&#\s'\"<>?]*=)[^&#\s'\"<>)]+")


def word(segment: str) -> bool:
    """``segment`` of a URL path is plainly a word (``WORD``), not a key."""
    return not segment or WORD.fullmatch(segment) is not None


def mask_url(url: str | None) -> str | None:
    """The URL without what it may carry that is secret: its user information (a password, or a
    token as user name), the path segments that are not plainly words and the values of its query
    (``https://•••@crm.example.com/hook/•••?api_key=•••``)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{HIDDEN}@{netloc.rpartition('@')[2]}"
        path = "/".join(s if word(s) else HIDDEN for s in parts.path.split("/"))
        query = "&".join(f"{name}={HIDDEN}" if sep else HIDDEN for name, sep, _ in
                         (pair.partition("=") for pair in parts.query.split("&"))) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, path, query, ""))
    except ValueError:
        return HIDDEN


def mask_secret(secret: str | None) -> str | None:
    """``whsec_abcd…wxyz`` style: enough to recognise a secret, never enough to use it."""
    if not secret:
        return None
    return f"{secret[:10]}…{secret[-4:]}"


def mask_header(value: str) -> str:
    """A custom header's value as shown once saved: its last four characters at most."""
    return "••••" + value[-4:] if len(value) >= 12 else "••••"


def mask_text(text: str | None, known: Iterable[str] = ()) -> str | None:
    """Free text (an error) with every URL's user information and query values in it masked, and
    every one of the ``known`` secret values it quotes."""
    if not text:
        return text
    for value in sorted({v for v in known if v and len(v) >= SHORTEST}, key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    text = _USERINFO.sub(f"{HIDDEN}@", text)
    return _QUERY_VALUE.sub(lambda m: m.group(1) + HIDDEN, text)


def secrets_in(url: str | None, headers: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secret values a subscription holds: its URL's user name and password, the path
    segments that are not plainly words, its query values, its custom header values (the ones an
    error or a reply may quote)."""
    found: list[str] = list((headers or {}).values())
    try:
        parts = urlsplit(url or "")
        for value in (parts.username, parts.password, *(s for s in parts.path.split("/") if not word(s))):
            found += [unquote(value), value] if value else []
        for pair in parts.query.split("&"):  # a bare entry (``?tok3n``) may be the secret itself
            name, sep, value = pair.partition("=")
            found += [unquote_plus(value), value] if sep else [unquote_plus(name), name]
    except ValueError:
        pass
    return tuple(v for v in found if v)


def conceal(field: str, value: Any, known: Iterable[str] = ()) -> Any:
    """``value`` of a subscription's, delivery's or attempt's ``field`` as a caller without the
    privilege sees it. Fields that hold nothing secret come back as they are."""
    if value is None:
        return None
    if field == "url":
        return mask_url(value)
    if field == "headers":  # a subscription's custom headers
        return {name: HIDDEN for name in value}
    if field == "request_headers":
        return {name: v if name.lower() in OWN_HEADERS else HIDDEN for name, v in value.items()}
    if field == "response_body":  # a receiver's reply may echo what it was sent
        return HIDDEN if value else value
    if field in ("error", "last_error"):
        return mask_text(value, known)
    return value


def conceal_all(data: Mapping[str, Any], known: Iterable[str] = ()) -> dict[str, Any]:
    """Every field of ``data`` (a ``to_dict``) through ``conceal``."""
    known = tuple(known)
    return {field: conceal(field, value, known) for field, value in data.items()}
