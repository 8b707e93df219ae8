"""Every kind of durable work, listed once. Each lane is defined beside the service that does
its work; ``create_app`` installs these, and the workers listen on their queues in this order."""
from __future__ import annotations

from vani.conversations.sending import MESSAGE_SENDS
from vani.mail.sync import MAILBOX_SYNCS
from vani.notifications.sending import NOTIFICATION_SENDS
from vani.outbound.backfill import BACKFILLS
from vani.outbound.delivery_lane import DELIVERIES
from vani.processing.events import EVENTS

LANES = (EVENTS, DELIVERIES, NOTIFICATION_SENDS, MESSAGE_SENDS, MAILBOX_SYNCS, BACKFILLS)
