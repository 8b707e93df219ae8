"""The outbound webhook channel.

Every notification kind is also a domain event in the outbound webhook catalogue
(``payment.received``, ``meeting.completed``, ``prospect.created``, ``message.received``),
emitted to the outbox in the same transaction that raised the notification. Subscribers get
the moment from there, signed and retried, so this channel sends nothing of its own: it records
``covered`` and says which event type carries the moment.
"""
from __future__ import annotations

from collections.abc import Mapping

from vani.services.notifications.render import Rendered

CATALOGUE_KINDS = ("payment.received", "meeting.completed", "prospect.created", "message.received")


def send(r: Rendered, cfg: Mapping) -> tuple[str, str]:
    if r.kind in CATALOGUE_KINDS:
        return "covered", f"subscribers receive the outbound '{r.kind}' event"
    return "skipped", f"no '{r.kind}' event in the outbound webhook catalogue"
