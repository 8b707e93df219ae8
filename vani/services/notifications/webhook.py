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

from vani.models import SendStatus
from vani.services.notifications.render import Rendered

CATALOGUE_KINDS = ("payment.received", "meeting.completed", "prospect.created", "message.received",
                   "conversation.handoff", "lead.created", "meeting.scheduled", "meeting.cancelled", "meeting.no_show")


def outcome(kind: str) -> tuple[SendStatus, str]:
    """What this channel does for ``kind``: known when the notification is raised, nothing to send."""
    if kind.startswith("alert."):
        return SendStatus.SKIPPED, f"'{kind}' is an alert for the team, not an outbound webhook event"
    if kind in CATALOGUE_KINDS:
        return SendStatus.COVERED, f"subscribers receive the outbound '{kind}' event"
    return SendStatus.SKIPPED, f"no '{kind}' event in the outbound webhook catalogue"


def send(r: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
    return outcome(r.kind)
