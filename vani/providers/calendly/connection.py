"""An organisation's Calendly connection ("Connect Calendly"): its connector (the OAuth flow is
``vani.plugins.oauth``'s; connecting reads the account), the organisation-scope webhook
subscription made with it (its signing key stored as the organisation's
Calendly secret), its state as Calendly reports it, repair, sync and disconnect.

Calendly disables a subscription after a day of failed deliveries and never says so: the page,
the API status and the scheduled check ask it. A 401 from Calendly marks the connection
``needs_reconnect``. Tokens, and calls made with them, are ``calendly_oauth``'s.
"""
from __future__ import annotations

import logging
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from vani import orgs, plugins, tenancy
from vani.errors import NotFound
from vani.extensions import db
from vani.models import ConnectionState, ProviderConnection, SubscriptionState, WebhookEvent
from vani.models.base import isoformat, utcnow
from vani.orgs.secrets import forget_secret, store_secret
from vani.payloads.coerce import as_time
from vani.plugins.oauth import Report
from vani.providers.calendly import oauth as calendly_oauth
from vani.providers.calendly import sync as calendly_sync
from vani.providers.calendly.oauth import PROVIDER, api_client, recording, usable
from vani.providers.calendly.registrar import EVENTS, current_user, paginate, uuid_of
from vani.registration.http import ApiError

log = logging.getLogger(__name__)

PAGE_SIZE = 100


@dataclass
class Subscription:
    """The webhook subscription as Calendly reports it now."""
    state: SubscriptionState
    uri: str | None = None
    callback_url: str | None = None
    retry_started_at: datetime | None = None  # Calendly has been retrying failed deliveries since
    error: str | None = None  # why Calendly could not be asked


def current() -> ProviderConnection | None:
    """The organisation in force's Calendly connection."""
    return db.session.execute(select(ProviderConnection).where(
        ProviderConnection.provider == PROVIDER)).scalar_one_or_none()


def required() -> ProviderConnection:
    conn = current()
    if conn is None:
        raise NotFound("Calendly is not connected for this organisation.")
    return conn


def webhook_url(base_url: str) -> str:
    """The organisation's Calendly webhook URL (the default organisation's has no key)."""
    org = orgs.in_force()
    providers = plugins.installed()
    paths = providers.webhook_paths(providers.get(PROVIDER), None if org.is_default else org.key)
    return base_url.rstrip("/") + paths[0]


# -- connecting --------------------------------------------------------------------------------
class CalendlyConnector(calendly_oauth.CalendlyOAuth):
    """"Connect Calendly": the OAuth app (``calendly_oauth``), then the account read, the connection
    stored and the webhook subscription made; its token stands in for ``CALENDLY_API_TOKEN``."""

    api_setting = "CALENDLY_API_TOKEN"  # "Connect Calendly" wins over a personal access token

    def api_token(self, org_id: int) -> str | None:
        return calendly_oauth.connection_token(org_id)

    def connected(self, token: Mapping, pending: Mapping, **context) -> Report:
        return connected(calendly_oauth.tokens(token), context["base_url"])


CONNECTOR = CalendlyConnector()


def connected(tokens: calendly_oauth.Tokens, base_url: str) -> Report:
    """Read the account, store the connection and make the webhook subscription. Raises
    ``ApiError`` when Calendly refuses a step; once the account is read the connection is stored,
    and the page shows what is missing (a subscription, say)."""
    conn = current() or ProviderConnection(provider=PROVIDER, access_token=tokens.access_token)
    calendly_oauth.save(conn, tokens)
    me = current_user(api_client(conn))
    conn.account_uri, conn.account_name = me["uri"], me.get("name")
    conn.account_email, conn.organization_uri = me.get("email"), me["current_organization"]
    db.session.add(conn)
    db.session.commit()
    report = Report("Calendly", [f"connected Calendly as {conn.account_name or conn.account_email or conn.account_uri}"])
    report.done += replace_subscription(conn, base_url)
    return report


def replace_subscription(conn: ProviderConnection, base_url: str) -> list[str]:
    """Delete the connection's subscription (if Calendly still has it) and make a fresh one with
    a new signing key, stored at once as the organisation's Calendly secret."""
    done: list[str] = []
    conn = usable(conn)
    client, target = api_client(conn), webhook_url(base_url)
    with recording(conn):
        if conn.subscription_uri:
            try:
                client.delete(f"/webhook_subscriptions/{uuid_of(conn.subscription_uri)}")
                done.append("deleted the old webhook subscription")
            except ApiError as exc:
                if exc.status not in (403, 404):  # 403: made by another Calendly account before a reconnect
                    raise
                if exc.status == 403:
                    done.append(f"left the old webhook subscription {conn.subscription_uri} (Calendly: {exc})")
            conn.subscription_uri, conn.subscription_state = None, SubscriptionState.MISSING
            db.session.commit()
        key = pysecrets.token_hex(32)
        body = {"url": target, "events": list(EVENTS), "organization": conn.organization_uri,
                "scope": "organization", "signing_key": key}
        try:
            data = client.post("/webhook_subscriptions", json=body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            # A subscription to this URL exists, made with a key Vani cannot know: replace it.
            for item in paginate(client, "/webhook_subscriptions", {
                    "organization": conn.organization_uri, "scope": "organization", "count": PAGE_SIZE}):
                if item.get("callback_url") == target and item.get("uri"):
                    client.delete(f"/webhook_subscriptions/{uuid_of(item['uri'])}")
                    done.append(f"deleted an earlier subscription to {target}")
            data = client.post("/webhook_subscriptions", json=body)
    uri = ((data or {}).get("resource") or {}).get("uri")
    if not uri:
        raise ApiError("Calendly's answer to creating the webhook subscription has no uri")
    conn.subscription_uri, conn.subscription_state, conn.checked_at = uri, SubscriptionState.ACTIVE, utcnow()
    conn.last_error = None
    store_secret(PROVIDER, key, external_id=uri, url=target)  # commits
    done.append(f"created the organization webhook subscription to {target}")
    return done


def repair(base_url: str) -> Report:
    return Report("Calendly", replace_subscription(required(), base_url))


# -- state -------------------------------------------------------------------------------------
def check_subscription(conn: ProviderConnection, quick: bool = False) -> Subscription:
    """Ask Calendly for the subscription and record its state on the connection; commits. When
    Calendly cannot be asked, the last state recorded is answered with the error."""
    if not conn.subscription_uri:
        return _record(conn, Subscription(SubscriptionState.MISSING))
    try:
        resource = _fetch_subscription(conn, quick)
    except ApiError as exc:
        return Subscription(conn.subscription_state or SubscriptionState.UNKNOWN, conn.subscription_uri,
                            error=str(exc))
    if resource is None:
        return _record(conn, Subscription(SubscriptionState.MISSING, conn.subscription_uri))
    reported = resource.get("state")
    known = reported in (SubscriptionState.ACTIVE, SubscriptionState.DISABLED)
    return _record(conn, Subscription(
        SubscriptionState(reported) if known else SubscriptionState.UNKNOWN, conn.subscription_uri,
        resource.get("callback_url"), as_time(resource.get("retry_started_at")),
        None if known else f"Calendly reports the state {reported!r}"))


def _fetch_subscription(conn: ProviderConnection, quick: bool) -> dict | None:
    """Calendly's subscription resource, or None when it has none by that uri."""
    conn = usable(conn)
    with recording(conn):
        try:
            resource = (api_client(conn, quick).get(
                f"/webhook_subscriptions/{uuid_of(conn.subscription_uri)}") or {}).get("resource") or {}
        except ApiError as exc:
            if exc.status != 404:
                raise
            return None
    conn.last_error = None  # the token works
    return resource


def _record(conn: ProviderConnection, found: Subscription) -> Subscription:
    conn.subscription_state, conn.checked_at = found.state, utcnow()
    db.session.commit()
    return found


def status(check: bool = True) -> dict | None:
    """The connection as the API shows it (never a token), its subscription as Calendly reports
    it now (``check``) or as last recorded; None without a connection."""
    conn = current()
    if conn is None:
        return None
    found = check_subscription(conn, quick=True) if check else None
    data = conn.to_dict()  # after the check: its state and errors included
    if found is not None:
        data["subscription"].update(state=str(found.state), error=found.error,
                                    retry_started_at=isoformat(found.retry_started_at))
    return data


def last_event() -> WebhookEvent | None:
    """The latest Calendly event the organisation in force received."""
    return db.session.execute(select(WebhookEvent).where(WebhookEvent.provider == PROVIDER).order_by(
        WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(1)).scalar_one_or_none()


def sync(since: datetime | None = None) -> calendly_sync.SyncResult:
    """``calendly_sync.sync`` (with the connection's token when there is one), a 401 recorded."""
    conn = current()
    if conn is None or conn.state != ConnectionState.CONNECTED:
        return calendly_sync.sync(since)
    with recording(conn):
        return calendly_sync.sync(since)


# -- disconnecting -----------------------------------------------------------------------------
def disconnect() -> Report:
    """Delete the subscription at Calendly, revoke both tokens and forget the connection. What
    Calendly refuses is reported; the connection is removed from Vani all the same."""
    conn, report = required(), Report("Calendly")
    try:
        conn = usable(conn)
    except ApiError as exc:
        report.failed.append(f"the token is not usable ({exc})")
    if conn.subscription_uri:
        try:
            api_client(conn).delete(f"/webhook_subscriptions/{uuid_of(conn.subscription_uri)}")
            report.done.append("deleted the webhook subscription at Calendly")
        except ApiError as exc:
            if exc.status == 404:
                report.done.append("the webhook subscription was already gone at Calendly")
            else:
                report.failed.append(f"deleting the webhook subscription {conn.subscription_uri} at Calendly "
                                     f"failed ({exc}); delete it in Calendly")
    for name, token in (("access token", conn.access_token), ("refresh token", conn.refresh_token)):
        if not token:
            continue
        try:
            calendly_oauth.revoke(token)
            report.done.append(f"revoked the {name}")
        except ApiError as exc:
            report.failed.append(f"revoking the {name} failed ({exc})")
    subscription = conn.subscription_uri
    db.session.delete(conn)
    db.session.commit()
    report.done.append("removed the connection from Vani")
    if subscription and forget_secret(PROVIDER, subscription):
        report.done.append("forgot the signing key of that subscription")
    return report


# -- scheduled ---------------------------------------------------------------------------------
def maintain_all(window: float = 900) -> dict[str, int]:
    """Across organisations: refresh every connection expiring within ``window`` seconds and
    record each subscription's state as Calendly reports it. Returns counts."""
    counts = {"connections": 0, "refreshed": 0, "failed": 0, "disabled": 0}
    rows = db.session.execute(select(ProviderConnection).where(
        ProviderConnection.provider == PROVIDER, ProviderConnection.state == ConnectionState.CONNECTED)
        .execution_options(unscoped=True)).scalars().all()
    for conn in rows:
        counts["connections"] += 1
        with tenancy.acting_for(conn.org_id):
            try:
                if conn.expires_within(window):
                    calendly_oauth.refresh(conn, window)
                    counts["refreshed"] += 1
                found = check_subscription(conn)
            except ApiError as exc:
                counts["failed"] += 1
                log.warning("Calendly connection of organisation %s: %s", conn.org_id, exc)
                continue
        if found.error:
            counts["failed"] += 1
        elif found.state == SubscriptionState.DISABLED:
            counts["disabled"] += 1
            log.warning("organisation %s: Calendly disabled its webhook subscription %s; repair it on the "
                        "Calendly page", conn.org_id, found.uri)
    return counts
