"""One "Connect <provider>" flow for every provider an admin connects through OAuth 2.0 (Calendly,
Gmail): the authorize URL with a random ``state`` and a PKCE ``S256`` challenge kept in the admin's
session, the checks on the callback (state, organisation, age, code), the code exchange and the
refreshes, through requests-oauthlib over the egress (guarded, under a hard deadline).

A provider brings a ``Connector``: its endpoints, scopes and words, the error its calls raise, and
what happens once connected (``connected``: the tokens stored, encrypted, where the provider keeps
them, and whatever it sets up with them).
"""
from __future__ import annotations

import hmac
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from flask import current_app
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from requests.auth import HTTPBasicAuth

from vani import egress, tenancy
from vani.errors import Forbidden, InvalidField, VaniError

PENDING_SECONDS = 15 * 60  # a sign-in not finished by then starts again (codes live about 10 minutes)


@dataclass
class Report:
    """What connecting or disconnecting did, and what it could not do; ``subject`` heads the
    message shown (the provider, or the mailbox connected)."""
    subject: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Connector:
    """One provider's side of the flow. Subclasses fill in the names and the endpoints."""

    title = ""  # what is connected, as the buttons say it: "Connect <title>"
    signs_in = ""  # whose sign-in page the admin sees ("Google" for Gmail)
    did_not_connect = ""  # the words before the provider's own reason for refusing
    settings: tuple[str, ...] = ()  # the settings the flow needs
    settings_hint = ""  # what they are, after "… not set"
    pending_key = ""  # the session key holding a sign-in under way
    scopes: tuple[str, ...] = ()
    authorize_params: Mapping[str, str] = {}  # more query parameters for the authorize URL
    credentials_in_body = False  # the client id and secret go in the token request's body (else HTTP Basic)
    api_setting: str | None = None  # the API setting a connection's access token stands in for

    def authorize_url(self, cfg: Mapping) -> str:
        raise NotImplementedError

    def token_url(self, cfg: Mapping) -> str:
        raise NotImplementedError

    def credentials(self, cfg: Mapping) -> tuple[str, str]:
        raise NotImplementedError

    def timeout(self, cfg: Mapping) -> float:
        return 20.0

    def error(self, message: str) -> Exception:
        """The provider's error for a call that could not be made."""
        raise NotImplementedError

    def protocol_error(self, message: str, exc: OAuth2Error) -> Exception:
        """The provider's error for an answer OAuth cannot accept."""
        return self.error(message)

    def refused(self, message: str, status: int, error: str | None, detail: str) -> Exception:
        """The provider's error for an error answer of its token endpoint."""
        raise NotImplementedError

    def refusal_detail(self, response: requests.Response) -> str:
        """What an error answer without an OAuth ``error`` says."""
        return response.text.strip()[:300]

    def api_token(self, org_id: int) -> str | None:
        """The organisation's access token for ``api_setting`` (fresh), or None."""
        return None

    def connected(self, token: Mapping, pending: Mapping, **context) -> Report:
        """What connecting does once the code is exchanged for ``token``."""
        raise NotImplementedError


def missing_settings(connector: Connector, cfg: Mapping | None = None) -> str | None:
    """Why "Connect <provider>" cannot start here (the settings to set), or None."""
    cfg = current_app.config if cfg is None else cfg
    unset = [name for name in connector.settings if not cfg.get(name)]
    return f"{' and '.join(unset)} not set{connector.settings_hint}" if unset else None


def token_error(response: requests.Response, fallback) -> tuple[str | None, str]:
    """``(error code, detail)`` of a token endpoint's error answer (RFC 6749 §5.2): ``error`` and
    ``error_description`` from a JSON body, else whatever ``fallback(response)`` makes of it."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else None
    if error:
        return error, ": ".join(str(data[k]) for k in ("error", "error_description") if data.get(k))
    return None, fallback(response)


def session(connector: Connector, cfg: Mapping, **kwargs):
    """requests-oauthlib's session for the provider, through the egress; an error answer of the
    token endpoint raises the provider's error."""
    def refused(response: requests.Response) -> requests.Response:
        if response.status_code < 400:
            return response
        error, detail = token_error(response, connector.refusal_detail)
        raise connector.refused(f"{connector.signs_in} refused the token request ({response.status_code}) - {detail}",
                                response.status_code, error, detail)

    oauth = egress.oauth_session(connector.credentials(cfg)[0], **kwargs)
    oauth.register_compliance_hook("access_token_response", refused)
    oauth.register_compliance_hook("refresh_token_response", refused)
    return oauth


@contextmanager
def token_call(connector: Connector, what: str, cfg: Mapping) -> Iterator[None]:
    """Transport and protocol failures of a call to the provider's OAuth host, as its error."""
    try:
        with egress.deadline(connector.timeout(cfg)):
            yield
    except egress.BlockedTarget as exc:
        raise connector.error(f"cannot reach {connector.signs_in} to {what}: refused target: {exc}") from None
    except requests.RequestException as exc:
        raise connector.error(f"cannot reach {connector.signs_in} to {what}: {egress.describe(exc)}") from None
    except OAuth2Error as exc:
        raise connector.protocol_error(
            f"could not {what} with {connector.signs_in}: {exc.description or exc.error}", exc) from None


def start(connector: Connector, redirect_uri: str) -> tuple[str, dict]:
    """The authorize URL for the organisation in force, and the sign-in to keep in the session."""
    problem = missing_settings(connector)
    if problem:
        raise VaniError(f"Connecting {connector.title} is not set up: {problem}.")
    cfg = current_app.config
    client = WebApplicationClient(connector.credentials(cfg)[0])
    verifier = client.create_code_verifier(64)
    oauth = egress.oauth_session(client=client, redirect_uri=redirect_uri, scope=list(connector.scopes) or None)
    with token_call(connector, "start the sign-in", cfg):
        url, state = oauth.authorization_url(connector.authorize_url(cfg), **connector.authorize_params,
                                             code_challenge=client.create_code_challenge(verifier, "S256"),
                                             code_challenge_method="S256")
    return url, {"state": state, "verifier": verifier, "org_id": tenancy.require(), "redirect_uri": redirect_uri,
                 "started": time.time()}


def check_callback(connector: Connector, pending: Mapping | None, args: Mapping) -> str:
    """The code from the provider's redirect, once it is proven to answer the sign-in this member
    started for this organisation. Raises otherwise, storing nothing."""
    who, again = connector.signs_in, f"Connect {connector.title}"
    if args.get("error"):
        raise VaniError(f"{connector.did_not_connect}: {args.get('error_description') or args['error']}.")
    state = args.get("state") or ""
    if not pending or not state or not hmac.compare_digest(str(pending.get("state", "")), state):
        raise VaniError(f"This {who} sign-in does not match one started here (missing or wrong state); "
                        f"start again with {again}.")
    if pending.get("org_id") != tenancy.require():
        raise Forbidden(f"This {who} sign-in was started for another organisation; switch back to it and "
                        "connect again from there.")
    if time.time() - float(pending.get("started") or 0) > PENDING_SECONDS:
        raise VaniError(f"This {who} sign-in took too long; start again with {again}.")
    if not args.get("code"):
        raise InvalidField("code", f"{who}'s redirect carries no code")
    return args["code"]


def exchange(connector: Connector, code: str, pending: Mapping) -> dict:
    """The code from the callback, exchanged for tokens."""
    cfg = current_app.config
    oauth = session(connector, cfg, redirect_uri=pending["redirect_uri"])
    secret = connector.credentials(cfg)[1]
    credentials = {"include_client_id": True} if connector.credentials_in_body else {}
    with token_call(connector, "exchange the code", cfg):
        return oauth.fetch_token(connector.token_url(cfg), code=code, client_secret=secret, **credentials,
                                 code_verifier=pending["verifier"], timeout=connector.timeout(cfg))


def refresh(connector: Connector, refresh_token: str, cfg: Mapping | None = None,
            what: str = "refresh the token") -> dict:
    """A new token from a refresh token (the provider may send a new refresh token with it)."""
    cfg = current_app.config if cfg is None else cfg
    client_id, secret = connector.credentials(cfg)
    if connector.credentials_in_body:
        credentials: dict = {"client_id": client_id, "client_secret": secret}
    else:
        credentials = {"auth": HTTPBasicAuth(client_id, secret)}
    oauth = session(connector, cfg)
    with token_call(connector, what, cfg):
        return oauth.refresh_token(connector.token_url(cfg), refresh_token=refresh_token, **credentials,
                                   timeout=connector.timeout(cfg))


def complete(connector: Connector, pending: Mapping | None, args: Mapping, **context) -> Report:
    """Finish the sign-in: check the callback, exchange the code, and let the provider store the
    connection (``connected``)."""
    code = check_callback(connector, pending, args)
    token = exchange(connector, code, pending)
    return connector.connected(token, pending, **context)
