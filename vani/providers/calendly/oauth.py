"""Calendly's OAuth connector (``vani.plugins.oauth`` runs the flow: the authorize URL with
``state`` and PKCE S256, the code exchange and refreshes) and an organisation's stored tokens:
kept fresh, revoked, and used for API calls.

Calendly's refresh tokens rotate and work once: a refresh overwrites both tokens, under a row lock
so two workers never send the same refresh token. A refused grant (400/401 from the token
endpoint, or from the API with the access token) marks the connection ``needs_reconnect``; an
admin then connects again.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from oauthlib.oauth2 import WebApplicationClient
from sqlalchemy import select

from vani import egress
from vani.extensions import db
from vani.models import ConnectionState, ProviderConnection
from vani.models.base import utcnow
from vani.plugins import oauth
from vani.registration.http import ApiClient, ApiError, error_detail

log = logging.getLogger(__name__)

PROVIDER = "calendly"
USE_MARGIN = 300  # seconds: a token expiring sooner is refreshed before it is used
TIMEOUT = 20.0


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


class CalendlyOAuth(oauth.Connector):
    """Calendly's OAuth app: its endpoints and words, its errors as ``ApiError`` (the connector,
    ``connection.CONNECTOR``, adds what connecting does)."""

    title = signs_in = "Calendly"
    did_not_connect = "Calendly did not connect"
    settings = ("CALENDLY_CLIENT_ID", "CALENDLY_CLIENT_SECRET")
    settings_hint = " (the OAuth app made at Calendly)"
    pending_key = "calendly_oauth"

    def authorize_url(self, cfg: Mapping) -> str:
        return cfg["CALENDLY_AUTH_BASE"].rstrip("/") + "/oauth/authorize"

    def token_url(self, cfg: Mapping) -> str:
        return cfg["CALENDLY_AUTH_BASE"].rstrip("/") + "/oauth/token"

    def credentials(self, cfg: Mapping) -> tuple[str, str]:
        return cfg["CALENDLY_CLIENT_ID"], cfg["CALENDLY_CLIENT_SECRET"]

    def timeout(self, cfg: Mapping) -> float:
        return TIMEOUT

    def error(self, message: str) -> Exception:
        return ApiError(message)

    def refused(self, message: str, status: int, error: str | None, detail: str) -> Exception:
        return ApiError(message, status, detail)

    def refusal_detail(self, response) -> str:
        return error_detail(response)


APP = CalendlyOAuth()


def tokens(token: Mapping) -> Tokens:
    expires_in = token.get("expires_in")
    expires_at = utcnow() + timedelta(seconds=int(expires_in)) if expires_in else None
    return Tokens(token["access_token"], token.get("refresh_token"), expires_at)


def revoke(token: str) -> None:
    """Revoke one token at Calendly (form ``token``, ``client_id``, ``client_secret``)."""
    cfg = current_app.config
    client_id, secret = APP.credentials(cfg)
    with oauth.token_call(APP, "revoke a token", cfg):
        url, headers, body = WebApplicationClient(client_id).prepare_token_revocation_request(
            cfg["CALENDLY_AUTH_BASE"].rstrip("/") + "/oauth/revoke", token, token_type_hint=None,
            client_id=client_id, client_secret=secret)
        response = egress.session().post(url, data=body, headers=headers, timeout=TIMEOUT)
    if response.status_code >= 400:
        _, detail = oauth.token_error(response, error_detail)
        raise ApiError(f"Calendly refused the token request ({response.status_code}) - {detail}",
                       response.status_code, detail)


def save(conn: ProviderConnection, fresh: Tokens) -> None:
    """Overwrite both tokens (a used refresh token never works again). No commit."""
    conn.access_token, conn.refresh_token, conn.expires_at = fresh.access_token, fresh.refresh_token, fresh.expires_at
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
        fresh = tokens(oauth.refresh(APP, row.refresh_token))
    except ApiError as exc:
        row.last_error = f"Refreshing the Calendly token failed: {exc}"
        if exc.status in (400, 401):  # the grant is gone: revoked, or its refresh token already used
            row.state = ConnectionState.NEEDS_RECONNECT
        db.session.commit()
        raise
    save(row, fresh)
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
