"""Read receipts on arrival: an organisation that chose it tells the customer each message was
read as soon as it arrives, through the ``message_sends`` lane (Kapso only, once per message).
The dashboard still shows the message unread until someone opens the conversation."""
from __future__ import annotations

from vani.conversations import outgoing
from vani.extensions import db
from vani.models import Conversation, Message, Organisation


def wanted(org_id: int) -> bool:
    org = db.session.get(Organisation, org_id)
    return bool(org is not None and org.mark_read_on_arrival)


def on_arrival(conv: Conversation, message: Message) -> bool:
    """Queue the read receipt of a message that has just arrived, when the organisation wants
    it (no commit). True when one was queued."""
    return wanted(conv.org_id) and outgoing.queue_read(conv, message)
