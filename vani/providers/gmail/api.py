"""The Gmail API as Vani calls it: JSON over HTTPS with the mailbox's access token, every call
under a hard deadline, through the egress (``vani.egress``). The token is refreshed at Google's token endpoint
(``vani.plugins.oauth``, requests-oauthlib) before it expires, and once more when Gmail answers 401.

Failures are ``GmailError``, a ``SyncError`` with the HTTP status (None: no answer). It asks for
a reconnect when Google refuses the grant (``invalid_grant``) or the token after a refresh
(401/403, rate limits apart); anything else is retried by the lane.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import quote

from oauthlib.oauth2 import OAuth2Error

from vani import egress
from vani.mail.mailboxes import SyncError
from vani.models import Mailbox
from vani.models.base import as_utc, utcnow
from vani.plugins import oauth

SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
USE_MARGIN = timedelta(minutes=5)  # a token expiring sooner is refreshed before it is used
HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")
RATE_LIMITED = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
TOO_LARGE = "too_large"


class GmailError(SyncError):
    """A call to Gmail or Google's token endpoint failed; ``reason`` is Google's (or ``too_large``)."""

    def __init__(self, message: str, status: int | None = None, reconnect: bool = False, reason: str | None = None):
        super().__init__(message, reconnect)
        self.status, self.reason = status, reason


def timeout(cfg: Mapping) -> float:
    """Whole seconds a Google call may take, at least 1 (a fraction of a second is taken as given)."""
    seconds = float(cfg.get("VANI_MAIL_TIMEOUT_SECONDS", 30))
    return seconds if 0 < seconds < 1 else float(max(int(seconds), 1))


# -- Google's token endpoint ------------------------------------------------------------------
class GoogleOAuth(oauth.Connector):
    """Google's OAuth client for Gmail: read-only scope, offline access (a refresh token), the client
    credentials in the token request's body, errors as ``GmailError`` (the connector,
    ``connect.CONNECTOR``, adds what connecting does)."""

    title, signs_in = "Gmail", "Google"
    did_not_connect = "Google did not connect the mailbox"
    settings = ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GMAIL_PUBSUB_TOPIC")
    pending_key = "gmail_oauth"
    scopes = (SCOPE,)
    authorize_params = {"access_type": "offline", "prompt": "consent"}
    credentials_in_body = True

    def authorize_url(self, cfg: Mapping) -> str:
        return cfg["GOOGLE_AUTH_URL"]

    def token_url(self, cfg: Mapping) -> str:
        return cfg["GOOGLE_TOKEN_URL"]

    def credentials(self, cfg: Mapping) -> tuple[str, str]:
        return cfg["GOOGLE_CLIENT_ID"], cfg["GOOGLE_CLIENT_SECRET"]

    def timeout(self, cfg: Mapping) -> float:
        return timeout(cfg)

    def error(self, message: str) -> Exception:
        return GmailError(message)

    def protocol_error(self, message: str, exc: OAuth2Error) -> Exception:
        return GmailError(message, exc.status_code, reconnect=exc.error == "invalid_grant", reason=exc.error)

    def refused(self, message: str, status: int, error: str | None, detail: str) -> Exception:
        return GmailError(message, status, reconnect=error == "invalid_grant", reason=error)


GOOGLE = GoogleOAuth()


def save_tokens(mailbox: Mailbox, token: Mapping) -> None:
    """Keep a token answer on the mailbox (Google sends a refresh token only with a new grant)."""
    mailbox.access_token = token["access_token"]
    if token.get("refresh_token"):
        mailbox.refresh_token = token["refresh_token"]
    expires_in = token.get("expires_in")
    mailbox.token_expires_at = utcnow() + timedelta(seconds=int(expires_in)) if expires_in else None


def refresh(mailbox: Mailbox, cfg: Mapping) -> None:
    """A new access token from the stored refresh token (no commit)."""
    if not mailbox.refresh_token:
        raise GmailError("no refresh token is stored: connect the mailbox again", reconnect=True)
    save_tokens(mailbox, oauth.refresh(GOOGLE, mailbox.refresh_token, cfg, "refresh the access token"))


def revoke(token: str, cfg: Mapping) -> None:
    """Revoke a token (the refresh token ends the whole grant)."""
    reply = egress.call("POST", cfg["GOOGLE_REVOKE_URL"], timeout(cfg), data={"token": token})
    if not reply.ok:
        raise GmailError(f"Google did not revoke the token: {reply.error or reply.status_code}", reply.status_code)


# -- the Gmail API ----------------------------------------------------------------------------
def _error(reply: egress.Reply, what: str) -> GmailError:
    if reply.error:
        return GmailError(f"Gmail {what}: {reply.error}")
    status = reply.status_code
    try:
        error = json.loads(reply.body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    error = error if isinstance(error, dict) else {"message": str(error)}
    reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
    reason = next((r for r in reasons if r), error.get("status"))
    detail = str(error.get("message") or reply.text.strip()[:300])
    refused = status == 401 or (status == 403 and reason not in RATE_LIMITED)
    hint = ": connect the mailbox again" if refused else ""
    return GmailError(f"Gmail {what} failed ({status}) - {detail}{hint}", status, reconnect=refused, reason=reason)


class Gmail:
    """Gmail API calls for one mailbox (``users/me``); the mailbox keeps any refreshed token."""

    def __init__(self, mailbox: Mailbox, cfg: Mapping):
        self.mailbox, self.cfg = mailbox, cfg
        self.base = cfg["GMAIL_API_BASE_URL"].rstrip("/") + "/gmail/v1/users/me"

    def _token(self) -> str:
        expires = as_utc(self.mailbox.token_expires_at)
        if not self.mailbox.access_token or (expires is not None and expires - utcnow() < USE_MARGIN):
            refresh(self.mailbox, self.cfg)
        return self.mailbox.access_token

    def _send(self, method: str, path: str, params, body) -> egress.Reply:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        return egress.call(method, self.base + path, timeout(self.cfg), params=params, json=body, headers=headers)

    def call(self, method: str, path: str, params: Mapping | None = None, body: Mapping | None = None) -> dict:
        what = f"{method} {path.split('?')[0]}"
        reply = self._send(method, path, params, body)
        if reply.status_code == 401:  # revoked or expired early: one refresh, one more try
            refresh(self.mailbox, self.cfg)
            reply = self._send(method, path, params, body)
        if not reply.ok:
            raise _error(reply, what)
        if len(reply.body) >= egress.MAX_READ:
            raise GmailError(f"Gmail {what}: the answer is larger than Vani reads", reason=TOO_LARGE)
        try:
            answer = json.loads(reply.body or b"{}")
        except ValueError:
            raise GmailError(f"Gmail {what}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise GmailError(f"Gmail {what}: the answer is not a JSON object")
        return answer

    def profile(self) -> dict:
        return self.call("GET", "/profile")

    def watch(self, topic: str) -> dict:
        return self.call("POST", "/watch", body={"topicName": topic, "labelIds": ["INBOX", "SENT"],
                                                  "labelFilterBehavior": "INCLUDE"})

    def stop(self) -> None:
        self.call("POST", "/stop")

    def history(self, start: str, page: str | None = None) -> dict:
        params = {"startHistoryId": start, "historyTypes": "messageAdded", "maxResults": 100}
        return self.call("GET", "/history", params={**params, **({"pageToken": page} if page else {})})

    def messages(self, query: str, page: str | None = None) -> dict:
        params = {"q": query, "maxResults": 100}
        return self.call("GET", "/messages", params={**params, **({"pageToken": page} if page else {})})

    def message(self, message_id: str) -> dict:
        return self.call("GET", f"/messages/{quote(message_id, safe='')}",
                         params={"format": "metadata", "metadataHeaders": list(HEADERS)})
