"""Which notification kinds go to which channels.

``VANI_NOTIFY_ROUTES`` holds ``kind=channel,channel`` entries separated by ``;`` (or new lines);
``*`` is the default for kinds not listed and ``none`` (or nothing) mutes a kind, e.g.
``payment.received=slack,email;meeting.completed=slack;*=webhook``. Unset: every kind goes to
every configured channel. ``owner`` emails the notification's owner and ``admins`` the
organisation's admins; alerts (``alert.*``) go to the admins unless a route names them.
"""
from __future__ import annotations

from collections.abc import Mapping

from vani.extensions import db
from vani.models import Channel, NotificationKind, Organisation
from vani.notifications.channels import CHANNELS, CONFIGURED, PEOPLE, missing_setting

__all__ = ["ALERTS", "CHANNELS", "CONFIGURED", "KINDS", "PEOPLE", "RouteError", "channels_for", "missing_setting",
           "parse_routes", "settings_for"]

KINDS = tuple(k for k in NotificationKind if not k.is_alert)
ALERTS = tuple(k for k in NotificationKind if k.is_alert)


class RouteError(ValueError):
    """``VANI_NOTIFY_ROUTES`` cannot be read; the message says where."""


def parse_routes(spec: str | None) -> dict[str, list[str]] | None:
    """The routes as ``{kind: [channels]}``, or None when no routes are set."""
    if spec is None or not spec.strip():
        return None
    routes: dict[str, list[str]] = {}
    for entry in spec.replace("\n", ";").split(";"):
        if not entry.strip():
            continue
        kind, sep, names = entry.partition("=")
        kind = kind.strip()
        if not sep or not kind:
            raise RouteError(f"{entry.strip()!r} is not kind=channel[,channel]")
        channels = [n.strip().lower() for n in names.split(",") if n.strip() and n.strip().lower() != "none"]
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise RouteError(f"unknown channel {unknown[0]!r} for {kind} (use {', '.join(CHANNELS)} or none)")
        routes[kind] = list(dict.fromkeys(channels))
    return routes


ORG_SETTINGS = {"VANI_NOTIFY_ROUTES": "notify_routes", "SLACK_WEBHOOK_URL": "slack_url",
                "VANI_NOTIFY_EMAIL_TO": "notify_email_to"}


def settings_for(org_id: int) -> dict:
    """The notification settings of an organisation: its own routes, Slack URL and recipients
    (the default organisation falls back to the environment's); the SMTP server is the install's."""
    from flask import current_app

    cfg = current_app.config
    org = db.session.get(Organisation, org_id)
    settings = {k: cfg.get(k) for k in ("SMTP_URL", "VANI_NOTIFY_EMAIL_FROM", "VANI_NOTIFY_TIMEOUT_SECONDS",
                                        "VANI_NOTIFY_MAX_ATTEMPTS", "PUBLIC_URL")}
    for setting, column in ORG_SETTINGS.items():
        own = getattr(org, column, None) if org is not None else None
        settings[setting] = own if own else (cfg.get(setting) if org is not None and org.is_default else None)
    return settings


def channels_for(kind: str, cfg: Mapping) -> list[str]:
    """The channels a notification of ``kind`` goes to (raises RouteError on bad routes). An
    alert no route names (``*`` does not count) goes to the admins."""
    routes = parse_routes(cfg.get("VANI_NOTIFY_ROUTES"))
    if kind.startswith("alert."):
        return (routes or {}).get(kind, (routes or {}).get("alert.*", [Channel.ADMINS]))
    if routes is None:
        return [c for c in CONFIGURED if missing_setting(c, cfg) is None]
    return routes.get(kind, routes.get("*", []))
