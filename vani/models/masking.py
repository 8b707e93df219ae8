"""What a subscriber's secrets look like to someone who may not see them: a URL's password and
query values, custom header values, a receiver's replies and the errors that quote them.

Seeing them takes the ``subscriptions`` scope (an API token) or the admin role (the dashboard);
every other caller gets the masked values from ``conceal``, in the API and the dashboard alike.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

HIDDEN = "•••"
# The headers Vani itself puts on a delivery (signing.request_headers); every other one is the
# subscription's own and may hold a key.
OWN_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"})
SHORTEST = 3  # a shorter value is hidden where it has its place (a password, a query value), not everywhere

_USERINFO = re.compile(r"(?<=://)([^/\s:@'\"<>]*):[^@/\s'\"<>]*@")
_QUERY_VALUE = re.compile(r"([?&][^=&#\s'\"<>?]*=)[^&#\s'\"<>)]+")


def mask_url(url: str | None) -> str | None:
    """The URL without what it may carry that is secret: the password in it and the values of its
    query (``https://bot:•••@crm.example.com/hook?api_key=•••``)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username}:{HIDDEN}@{netloc.rpartition('@')[2]}"
        query = "&".join(f"{name}={HIDDEN}" if sep else HIDDEN for name, sep, _ in
                         (pair.partition("=") for pair in parts.query.split("&"))) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
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
    """Free text (an error) with every URL password and query value in it masked, and every one
    of the ``known`` secret values it quotes."""
    if not text:
        return text
    for value in sorted({v for v in known if v and len(v) >= SHORTEST}, key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}:{HIDDEN}@", text)
    return _QUERY_VALUE.sub(lambda m: m.group(1) + HIDDEN, text)


def secrets_in(url: str | None, headers: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secret values a subscription holds: its URL's password and query values, its custom
    header values (the ones an error or a reply may quote)."""
    found: list[str] = list((headers or {}).values())
    try:
        parts = urlsplit(url or "")
        found.append(parts.password or "")
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
