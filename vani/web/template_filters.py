"""Template filters and globals: times, status badges, page links."""
from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, current_app, request, url_for
from markupsafe import Markup, escape

from vani.dashboard.filters import clean_args
from vani.models import (
    ConversationStatus,
    DeliveryStatus,
    EventStatus,
    MeetingStatus,
    MessageDirection,
    MessageStatus,
    NotificationStatus,
    Role,
    SendStatus,
)
from vani.models import clock
from vani.models.base import as_utc, utcnow
from vani.models.masking import conceal
from vani.plugins.messaging import variable_label
from vani.providers.registry import all_providers


def _tones() -> dict[str, str]:
    """State → badge colour class, for every state enum (and the health labels)."""
    ok = (EventStatus.PROCESSED, DeliveryStatus.DELIVERED, SendStatus.SENT, SendStatus.COVERED, MessageStatus.READ,
          MessageStatus.SENT, MessageStatus.DELIVERED, MeetingStatus.COMPLETED, ConversationStatus.ACTIVE,
          NotificationStatus.SENT)
    info = (MeetingStatus.SCHEDULED, EventStatus.RECEIVED, DeliveryStatus.PENDING, MessageStatus.QUEUED,
            DeliveryStatus.DELIVERING, EventStatus.PROCESSING, SendStatus.SENDING)
    bad = (EventStatus.FAILED, EventStatus.DEAD, SendStatus.DEAD, MessageStatus.UNDELIVERED)
    muted = (DeliveryStatus.CANCELLED, EventStatus.IGNORED, SendStatus.SKIPPED, MeetingStatus.RESCHEDULED,
             ConversationStatus.ENDED, ConversationStatus.INACTIVE)
    tones = {str(s): tone for tone, states in (("ok", ok), ("info", info), ("bad", bad), ("muted", muted))
             for s in states}
    tones.update({str(MeetingStatus.NO_SHOW): "warn", "healthy": "ok", "failing": "warn", "disabled": "bad",
                  "rejected": "bad", "connected": "ok", "error": "warn", "needs_reconnect": "bad", "idle": "muted",
                  "syncing": "info", "booked": "info", "met": "ok", "paid": "ok", "lead": "muted",
                  "in_progress": "info", "live": "ok", "silent": "bad"})
    return tones


BADGES = _tones()


def time_tag(value: datetime | None, empty: str = "—") -> Markup:
    """``<time>`` in the organisation's time zone, the zone named (``2026-01-05 11:00:00 CET``),
    with the UTC value in its ``datetime`` and on hover."""
    value = as_utc(value)
    if value is None:
        return Markup(f'<span class="muted">{escape(empty)}</span>')
    return _time_markup(value, clock.zone())


@lru_cache(maxsize=4096)
def _time_markup(value: datetime, where: tzinfo) -> Markup:
    """One instant's ``<time>`` in one zone (pages show the same hours many times)."""
    iso = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    utc = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    text = clock.describe(value, fmt=clock.SECONDS, where=where)
    zone = escape(getattr(where, "key", "UTC"))
    return Markup(f'<time datetime="{iso}" title="{utc}" data-zone="{zone}">{escape(text)}</time>')


def zone_label() -> str:
    """The organisation's time zone as the dashboard names it now (``CET``, ``UTC``)."""
    return clock.zone_label(utcnow().astimezone(clock.zone()))


def breakable(value: str | None) -> Markup:
    """Escaped text with line-break opportunities after dots and underscores, so long dotted
    names (``routing_form_submission.created``) wrap at their parts on a phone."""
    text = str(escape(value or ""))
    return Markup(text.replace(".", ".<wbr>").replace("_", "_<wbr>"))


def badge(status: str | None, label: str | None = None) -> Markup:
    status = status or "unknown"
    tone = BADGES.get(status, "muted")
    return Markup(f'<span class="badge badge-{tone}">{escape(label or status.replace("_", " "))}</span>')


def safe_href(value: str | None) -> str | None:
    """An outside link from provider data (join URL, media URL) when it is http(s), else None:
    a ``javascript:`` or ``data:`` URL in a payload must never become a clickable link."""
    text = (value or "").strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return None
    return text if scheme in ("http", "https") else None


def sees_secrets() -> bool:
    """Subscriber URLs, headers and replies in full are for admins; staff and viewers get them
    masked (``models.masking``)."""
    from flask_login import current_user

    return bool(getattr(current_user, "is_authenticated", False) and current_user.can(Role.ADMIN))


def target(url: str | None) -> str | None:
    """A subscriber URL as this user may see it: whole for admins, masked for everyone else."""
    return url if sees_secrets() else conceal("url", url)


def shown(value, field: str, subscription=None):
    """A delivery's or attempt's ``field`` as this user may see it (the subscription's secrets
    masked where it quotes them unless the user is an admin)."""
    if sees_secrets():
        return value
    return conceal(field, value, subscription.known_secrets() if subscription is not None else ())


def page_url(**changes) -> str:
    """The current page's URL with its filters, some changed (``None`` removes one)."""
    args = clean_args(request.args)
    args.update(changes)
    args = {k: v for k, v in args.items() if v is not None}
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def filters_active() -> bool:
    """True when the current list page has a filter set (so "Reset" means something)."""
    return bool(clean_args(request.args))


def has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


@lru_cache(maxsize=1)
def _provider_titles() -> dict[str, str]:
    return {p.name: p.title or p.name for p in all_providers()}


def provider_choices() -> list[tuple[str, str]]:
    """(name, title) of every provider, for filter menus."""
    return list(_provider_titles().items())


def provider_title(name: str | None) -> str:
    """"Cal.com" for "cal_com"; unknown names as they are."""
    return _provider_titles().get(name or "", name or "")


def init_app(app: Flask) -> None:
    app.add_template_filter(time_tag, "time")
    app.add_template_filter(badge, "badge")
    app.add_template_filter(breakable, "breakable")
    app.add_template_filter(provider_title, "provider")
    app.add_template_filter(safe_href, "safe_href")
    app.add_template_filter(target, "target")
    app.add_template_filter(shown, "shown")
    app.add_template_global(sees_secrets)
    app.add_template_global(zone_label)
    app.add_template_global(page_url)
    app.add_template_global(has_endpoint)
    app.add_template_global(filters_active)
    app.add_template_global(provider_choices)
    app.add_template_global(variable_label)
    app.add_template_filter(variable_label)
    for states in (DeliveryStatus, EventStatus, MeetingStatus, MessageDirection, NotificationStatus, Role, SendStatus):
        app.add_template_global(states, states.__name__)
