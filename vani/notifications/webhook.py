"""The outbound webhook channel.

Every notification kind is also a domain event in the outbound webhook catalogue
(``payment.received``, ``meeting.completed``, ``prospect.created``, ``message.received``),
emitted to the outbox in the same transaction that raised the notification. Subscribers get
the moment from there, signed and retried, so this channel sends nothing of its own: it records
``covered`` and says which event type carries the moment. Alerts (``alert.*``) are for the team
only: skipped, with that reason.
"""
from __future__ import annotations

from collections.abc import Mapping

from vani.models import Channel, NotificationKind, SendStatus
from vani.notifications.base import Sender
from vani.notifications.render import Rendered

CATALOGUE_KINDS = (NotificationKind.PAYMENT_RECEIVED, NotificationKind.MEETING_COMPLETED,
                   NotificationKind.PROSPECT_CREATED, NotificationKind.MESSAGE_RECEIVED,
                   NotificationKind.CONVERSATION_HANDOFF, NotificationKind.LEAD_CREATED,
                   NotificationKind.MEETING_SCHEDULED, NotificationKind.MEETING_CANCELLED,
                   NotificationKind.MEETING_NO_SHOW)


def outcome(kind: str) -> tuple[SendStatus, str]:
    """What this channel does for ``kind``: known when the notification is raised, nothing to send."""
    if kind.startswith("alert."):
        return SendStatus.SKIPPED, f"'{kind}' is an alert for the team, not an outbound webhook event"
    if kind in CATALOGUE_KINDS:
        return SendStatus.COVERED, f"subscribers receive the outbound '{kind}' event"
    return SendStatus.SKIPPED, f"no '{kind}' event in the outbound webhook catalogue"


def send(r: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
    return outcome(r.kind)


class WebhookSender(Sender):
    channel = Channel.WEBHOOK
    by_default = True

    def planned(self, kind: str) -> tuple[SendStatus, str]:
        return outcome(kind)

    def send(self, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
        return send(rendered, cfg)
