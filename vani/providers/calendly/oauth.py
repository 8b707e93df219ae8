"""Calendly OAuth tokens: the authorize URL (``state`` and PKCE S256), the code exchange, refreshes
and revocation through requests-oauthlib (over the egress, under a hard deadline), and keeping an
organisation's stored tokens fresh.

Calendly's refresh tokens rotate and work once: a refresh overwrites both tokens, under a row lock
so two workers never send the same refresh token. A refused grant (400/401 from the token
endpoint, or from the API with the access token) marks the connection ``needs_reconnect``; an
admin then connects again.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask import current_app
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from requests.auth import HTTPBasicAuth
from sqlalchemy import select

from vani import egress
from vani.extensions import db
from vani.models import ConnectionState, ProviderConnection
from vani.models.base import utcnow
from vani.providers.oauth_errors import token_error
from vani.registration.http import ApiClient, ApiError, error_detail

log = logging.getLogger(__name__)

PROVIDER = "calendly"
USE_MARGIN = 300  # seconds: a token expiring sooner is refreshed before it is used
TIMEOUT = 20.0
SETTINGS = ("CALENDLY_CLIENT_ID", "CALENDLY_CLIENT_SECRET")


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


def missing_settings() -> str | None:
    """Why "Connect Calendly" cannot start here (a setting to set), or None."""
    unset = [name for name in SETTINGS if not current_app.config.get(name)]
    return f"{' and '.join(unset)} not set (the OAuth app made at Calendly)" if unset else None


def _url(path: str) -> str:
    return current_app.config["CALENDLY_AUTH_BASE"].rstrip("/") + path


def _credentials() -> tuple[str, str]:
    return current_app.config["CALENDLY_CLIENT_ID"], current_app.config["CALENDLY_CLIENT_SECRET"]


def _refused(response: requests.Response) -> requests.Response:
    """A compliance hook: an error answer from the token endpoint becomes an ``ApiError``."""
    if response.status_code < 400:
        return response
    _, detail = token_error(response, error_detail)
    raise ApiError(f"Calendly refused the token request ({response.status_code}) - {detail}",
                   response.status_code, detail)


def _session(**kwargs):
    oauth = egress.oauth_session(_credentials()[0], **kwargs)
    oauth.register_compliance_hook("access_token_response", _refused)
    oauth.register_compliance_hook("refresh_token_response", _refused)
    return oauth


def _tokens(token: dict) -> Tokens:
    expires_in = token.get("expires_in")
    expires_at = utcnow() + timedelta(seconds=int(expires_in)) if expires_in else None
    return Tokens(token["access_token"], token.get("refresh_token"), expires_at)


@contextmanager
def _token_call(what: str):
    """Transport and protocol failures of a call to Calendly's OAuth host, as ``ApiError``."""
    try:
        with egress.deadline(TIMEOUT):
            yield
    except egress.BlockedTarget as exc:
        raise ApiError(f"cannot reach Calendly to {what}: refused target: {exc}") from None
    except requests.RequestException as exc:
        raise ApiError(f"cannot reach Calendly to {what}: {egress.describe(exc)}") from None
    except OAuth2Error as exc:
        raise ApiError(f"could not {what} with Calendly: {exc.description or exc.error}") from None


def authorization(redirect_uri: str, org_id: int) -> tuple[str, dict]:
    """The URL to send the admin to, and what to keep in their session until the callback."""
    client = WebApplicationClient(_credentials()[0])
    verifier = client.create_code_verifier(64)
    challenge = client.create_code_challenge(verifier, "S256")
    oauth = egress.oauth_session(client=client, redirect_uri=redirect_uri)
    with _token_call("start the sign-in"):
        url, state = oauth.authorization_url(_url("/oauth/authorize"), code_challenge=challenge,
                                             code_challenge_method="S256")
    pending = {"state": state, "verifier": verifier, "org_id": org_id, "redirect_uri": redirect_uri,
               "started": time.time()}
    return url, pending


def exchange(code: str, pending: dict) -> Tokens:
    """The code from the callback, exchanged for tokens (client credentials as HTTP Basic)."""
    oauth = _session(redirect_uri=pending["redirect_uri"])
    with _token_call("exchange the code"):
        token = oauth.fetch_token(_url("/oauth/token"), code=code, client_secret=_credentials()[1],
                                  code_verifier=pending["verifier"], timeout=TIMEOUT)
    return _tokens(token)


def _refresh_grant(refresh_token: str) -> Tokens:
    oauth = _session()
    with _token_call("refresh the token"):
        token = oauth.refresh_token(_url("/oauth/token"), refresh_token=refresh_token,
                                    auth=HTTPBasicAuth(*_credentials()), timeout=TIMEOUT)
    return _tokens(token)


def revoke(token: str) -> None:
    """Revoke one token at Calendly (form ``token``, ``client_id``, ``client_secret``)."""
    client_id, secret = _credentials()
    with _token_call("revoke a token"):
        url, headers, body = WebApplicationClient(client_id).prepare_token_revocation_request(
            _url("/oauth/revoke"), token, token_type_hint=None, client_id=client_id, client_secret=secret)
        _refused(egress.session().post(url, data=body, headers=headers, timeout=TIMEOUT))


def save(conn: ProviderConnection, tokens: Tokens) -> None:
    """Overwrite both tokens (a used refresh token never works again). No commit."""
    conn.access_token, conn.refresh_token, conn.expires_at = tokens.access_token, tokens.refresh_token, tokens.expires_at
    conn.state, conn.last_error, conn.updated_at = ConnectionState.CONNECTED, None, utcnow()


def refresh(conn: ProviderConnection, margin: float = USE_MARGIN) -> ProviderConnection:
    """Refresh the connection's tokens when they expire within ``margin`` seconds; commits.
    The row is locked and read again first: when another worker refreshed it meanwhile, its
    tokens are used as they are. Raises ``ApiError`` (recorded on the connection) on failure."""
    row = db.session.execute(select(ProviderConnection).where(ProviderConnection.id == conn.id).with_for_update()
                             .execution_options(populate_existing=True, unscoped=True)).scalar_one()
    if row.state != ConnectionState.CONNECTED or not row.refresh_token or not row.expires_within(margin):
        db.session.commit()
        return row
    try:
        tokens = _refresh_grant(row.refresh_token)
    except ApiError as exc:
        row.last_error = f"Refreshing the Calendly token failed: {exc}"
        if exc.status in (400, 401):  # the grant is gone: revoked, or its refresh token already used
            row.state = ConnectionState.NEEDS_RECONNECT
        db.session.commit()
        raise
    save(row, tokens)
    db.session.commit()
    return row


def connection_token(org_id: int) -> str | None:
    """The organisation's Calendly OAuth access token, refreshed when about to expire; None when
    it has no usable connection."""
    conn = db.session.execute(select(ProviderConnection).where(
        ProviderConnection.org_id == org_id, ProviderConnection.provider == PROVIDER)
        .execution_options(unscoped=True)).scalar_one_or_none()
    if conn is None or conn.state != ConnectionState.CONNECTED:
        return None
    if conn.expires_within(USE_MARGIN):
        try:
            conn = refresh(conn)
        except ApiError as exc:
            log.warning("organisation %s: %s", org_id, exc)
    return conn.access_token if conn.state == ConnectionState.CONNECTED else None


# -- calls with the stored tokens ------------------------------------------------------------
def api_client(conn: ProviderConnection, quick: bool = False) -> ApiClient:
    """Calendly's API with the connection's token; ``quick`` never waits on a rate limit."""
    client = ApiClient("Calendly", current_app.config["CALENDLY_API_BASE"],
                       headers={"Authorization": f"Bearer {conn.access_token}"},
                       credential_hint="the connected Calendly account", sleep=time.sleep)
    if quick:
        client.max_retries, client.timeout = 0, 5.0
    return client


@contextmanager
def recording(conn: ProviderConnection):
    """Record a failed Calendly call on the connection (a 401: ``needs_reconnect``) and re-raise."""
    try:
        yield
    except ApiError as exc:
        conn.last_error = str(exc)
        if exc.status == 401:
            conn.state = ConnectionState.NEEDS_RECONNECT
        db.session.commit()
        raise


def usable(conn: ProviderConnection) -> ProviderConnection:
    """The connection with a token good for a few minutes more (refreshed if needed)."""
    if conn.state != ConnectionState.CONNECTED:
        raise ApiError(f"Calendly needs connecting again: {conn.last_error or 'it refused the tokens'}", 401)
    return refresh(conn) if conn.expires_within(USE_MARGIN) else conn
