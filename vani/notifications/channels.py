"""The notification channels: one sender per ``Channel``, the only list of them to keep."""
from __future__ import annotations

from collections.abc import Mapping

from vani.models import Channel
from vani.notifications.base import Sender
from vani.notifications.mail import EmailSender
from vani.notifications.people import PeopleSender
from vani.notifications.slack import SlackSender
from vani.notifications.webhook import WebhookSender

SENDERS: dict[Channel, Sender] = {s.channel: s for s in (
    SlackSender(), EmailSender(), WebhookSender(), PeopleSender(Channel.OWNER), PeopleSender(Channel.ADMINS))}
assert set(SENDERS) == set(Channel), "every channel needs a sender"

CHANNELS = tuple(Channel)
CONFIGURED = tuple(c for c in Channel if SENDERS[c].by_default)  # what an unset VANI_NOTIFY_ROUTES sends to
PEOPLE = tuple(c for c in Channel if SENDERS[c].to_people)


def sender(channel: str) -> Sender | None:
    """The sender of ``channel`` (as stored or routed), or None for a name no channel has."""
    try:
        return SENDERS[Channel(channel)]
    except ValueError:
        return None


def missing_setting(channel: str, cfg: Mapping) -> str | None:
    """Why ``channel`` cannot send with this configuration, or None when it can."""
    found = sender(channel)
    return found.missing_setting(cfg) if found else None
