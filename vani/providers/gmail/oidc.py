"""Pub/Sub push authentication with OIDC: the JWT Google signs for the push subscription's
service account, sent as ``Authorization: Bearer``. Verified with google-auth (signature against
Google's certificates, expiry, audience ``GMAIL_PUSH_AUDIENCE``), then the issuer and the
verified ``email`` (``GMAIL_PUSH_SERVICE_ACCOUNT``). The certificates are kept as long as their
``Cache-Control`` allows, so a push costs no call to Google. The certificates are fetched through
the egress, under a hard deadline.
"""
from __future__ import annotations

import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Mapping

from google.auth import transport
from google.auth.transport.requests import Request
from google.oauth2 import id_token

from vani import egress
from vani.plugins.contract import SignatureError

log = logging.getLogger(__name__)

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 30
CERTS_TIMEOUT = 10.0
MAX_KEEP_SECONDS = 24 * 3600
JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(token: str) -> bool:
    return bool(JWT.match(token))


def max_age(headers: Mapping) -> float:
    """How long an answer may be kept, from its ``Cache-Control`` (less its ``Age``)."""
    control = (headers.get("Cache-Control") or "").lower()
    if "no-store" in control or "no-cache" in control:
        return 0.0
    found = re.search(r"(?:^|[,\s])max-age=(\d+)", control)
    if not found:
        return 0.0
    age = headers.get("Age") or "0"
    return float(min(int(found.group(1)) - (int(age) if age.isdigit() else 0), MAX_KEEP_SECONDS))


class CachingRequest(transport.Request):
    """google-auth's requests transport, keeping successful GET answers for their ``max-age``."""

    def __init__(self, clock=time.monotonic):
        self.inner, self.clock = Request(session=egress.new_session()), clock
        self.kept: dict[str, tuple[float, transport.Response]] = {}
        self.lock = threading.Lock()

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET" or body is not None:
            with egress.deadline(timeout or CERTS_TIMEOUT):
                return self.inner(url, method=method, body=body, headers=headers, timeout=timeout or CERTS_TIMEOUT,
                                  **kwargs)
        with self.lock:
            kept = self.kept.get(url)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        with egress.deadline(timeout or CERTS_TIMEOUT):
            response = self.inner(url, method="GET", headers=headers, timeout=timeout or CERTS_TIMEOUT, **kwargs)
        seconds = max_age(response.headers) if response.status == 200 else 0.0
        if seconds > 0:
            with self.lock:
                self.kept[url] = (self.clock() + seconds, response)
        return response


_transport: tuple[int, CachingRequest] | None = None


def certificates() -> CachingRequest:
    """This process's caching transport (a forked worker makes its own)."""
    global _transport
    if _transport is None or _transport[0] != os.getpid():
        _transport = (os.getpid(), CachingRequest())
    return _transport[1]


def forget_certificates() -> None:
    global _transport
    _transport = None


def verify(token: str, cfg: Mapping) -> dict:
    """The token's claims, once it is proven to come from the push subscription. Raises
    ``SignatureError`` otherwise."""
    account = (cfg.get("GMAIL_PUSH_SERVICE_ACCOUNT") or "").strip().lower()
    if not account:
        raise SignatureError("oidc_not_configured", "GMAIL_PUSH_SERVICE_ACCOUNT is not set: the push's OIDC token "
                                                    "cannot be checked")
    try:
        claims = id_token.verify_token(token, certificates(), audience=cfg.get("GMAIL_PUSH_AUDIENCE"),
                                       certs_url=cfg["GOOGLE_CERTS_URL"], clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
    except Exception as exc:  # google-auth's ValueError and TransportError, or anything else: not authenticated
        raise SignatureError("invalid_token", f"the push's OIDC token is not valid: {exc}") from None
    if claims.get("iss") not in ISSUERS:
        raise SignatureError("invalid_token", f"the push's OIDC token was not issued by Google ({claims.get('iss')})")
    email = str(claims.get("email") or "").lower()
    if not hmac.compare_digest(email.encode(), account.encode()):
        raise SignatureError("invalid_token", "the push's OIDC token is not for GMAIL_PUSH_SERVICE_ACCOUNT")
    if claims.get("email_verified") is not True:
        raise SignatureError("invalid_token", "the push's OIDC token has no verified email")
    return claims
