"""Notification routing as a person sets it: a grid of kinds × channels, read from and written
to the stored routes (``kind=channel,channel;…``, see ``routing``), and a sample send through
one channel to see that it arrives."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from vani import tenancy
from vani.errors import InvalidField
from vani.models import Channel
from vani.notifications import people
from vani.notifications.base import ChannelError
from vani.notifications.channels import SENDERS, missing_setting
from vani.notifications.render import Rendered, dashboard_link
from vani.notifications.routing import ALERTS, CHANNELS, KINDS, RouteError, channels_for, settings_for

ROWS = KINDS + ALERTS


def checked(cfg: Mapping) -> dict[str, set[str]]:
    """``{kind: channels it goes to}`` as the grid shows it: what the stored routes (or, with none,
    the default) send each kind to. Unreadable routes show an empty grid."""
    out = {}
    for kind in ROWS:
        try:
            out[kind.value] = {str(c) for c in channels_for(kind.value, cfg)}
        except RouteError:
            out[kind.value] = set()
    return out


def routes_from(pairs: Iterable[str]) -> str:
    """The stored routes for the ticked boxes, each ``kind:channel``; every kind is named, a kind
    with no box ticked as ``none``. InvalidField for a kind or channel the grid does not have."""
    chosen: dict[str, list[str]] = {kind.value: [] for kind in ROWS}
    for pair in pairs:
        kind, _, channel = pair.partition(":")
        if kind not in chosen or channel not in CHANNELS:
            raise InvalidField("routes", f"{pair!r} is not a kind and channel of the grid")
        if channel not in chosen[kind]:
            chosen[kind].append(channel)
    return ";".join(f"{kind}={','.join(sorted(chs, key=CHANNELS.index)) or 'none'}" for kind, chs in chosen.items())


def send_test(channel: str, user_email: str | None) -> str:
    """Send a sample notification through ``channel`` now (nothing is stored): owner goes to the
    person asking, admins to the organisation's admins. Returns what the channel answered;
    InvalidField when the channel is unknown or not set up."""
    if channel not in CHANNELS:
        raise InvalidField("channel", f"use one of {', '.join(CHANNELS)}")
    cfg = settings_for(tenancy.require())
    missing = missing_setting(channel, cfg)
    if missing:
        raise InvalidField("channel", f"{channel} cannot send yet: {missing}")
    if channel == Channel.OWNER:
        recipients = [user_email] if user_email else []
    elif channel == Channel.ADMINS:
        recipients = people.admins(tenancy.require())
    else:
        recipients = None
    if recipients is not None:
        if not recipients:
            raise InvalidField("channel", f"{channel} has nobody to send to")
        cfg = {**cfg, "VANI_NOTIFY_EMAIL_TO": ", ".join(recipients)}
    sample = Rendered(0, "payment.received", "Vani test notification", "This is a test of the notification channel.",
                      [("Prospect", "Ada Lovelace (ada@example.com)"), ("Channel", channel)],
                      dashboard_link("/dashboard/notifications"), None)
    try:
        status, detail = SENDERS[Channel(channel)].send(sample, cfg)
    except ChannelError as exc:
        raise InvalidField("channel", f"{channel}: {exc}") from None
    return f"{status} ({detail})"
