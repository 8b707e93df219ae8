"""Every kind of durable work, listed once. Each lane is defined beside the service that does
its work; ``create_app`` installs these, and the workers listen on their queues in this order."""
from __future__ import annotations

from vani.services.mail.sync import MAILBOX_SYNCS
from vani.services.notifications.sending import NOTIFICATION_SENDS
from vani.services.processing.events import EVENTS
from vani.services.webhooks.backfill import BACKFILLS
from vani.services.webhooks.delivery_lane import DELIVERIES
from vani.services.whatsapp.sending import MESSAGE_SENDS

LANES = (EVENTS, DELIVERIES, NOTIFICATION_SENDS, MESSAGE_SENDS, MAILBOX_SYNCS, BACKFILLS)
