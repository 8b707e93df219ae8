"""Outbound webhooks: subscriptions, signed deliveries, retries, dead letters.

Modules: ``subscriptions`` (manage), ``fanout`` (outbox → deliveries, custom and test events),
``deliveries`` (look up, manual retry), ``signing`` (Standard Webhooks), ``ssrf`` (target guard),
``policy`` (retry schedule), ``sender`` (HTTP), ``worker`` (claim, send, record), ``dispatch``
(waking workers, live updates). The names below are the public surface for views and commands.
"""
from vani.services.webhooks.deliveries import (  # noqa: F401
    count_retryable, delivery_query, get_delivery, list_attempts, list_deliveries, retry_delivery, retry_failed,
    status_counts,
)
from vani.services.webhooks.errors import Conflict, InvalidField, NotFound, WebhookError  # noqa: F401
from vani.services.webhooks.fanout import TEST_EVENT, emit_custom, fan_out, send_test  # noqa: F401
from vani.services.webhooks.subscriptions import (  # noqa: F401
    ROTATION_WINDOW, create_subscription, delete_subscription, delivery_counts, get_subscription,
    list_subscriptions, rotate_secret, update_subscription,
)

__all__ = [
    "Conflict", "InvalidField", "NotFound", "ROTATION_WINDOW", "TEST_EVENT", "WebhookError", "count_retryable",
    "create_subscription", "delete_subscription", "delivery_counts", "delivery_query", "emit_custom", "fan_out", "get_delivery",
    "get_subscription", "list_attempts", "list_deliveries", "list_subscriptions", "retry_delivery", "retry_failed",
    "rotate_secret", "send_test", "status_counts", "update_subscription",
]
