"""Outbound webhooks: subscriptions, signed deliveries, retries, dead letters.

Modules: ``subscriptions`` (manage), ``fanout`` (outbound events → deliveries, custom and test
events), ``delivery`` (the deliveries lane: send, record, health), ``deliveries`` (look up,
manual retry), ``signing`` (Standard Webhooks), ``sender`` (HTTP, through ``vani.egress``).
The names below are the public surface for views and commands.
"""
from vani.errors import Conflict, InvalidField, NotFound  # noqa: F401
from vani.outbound.deliveries import (  # noqa: F401
    count_retryable,
    delivery_query,
    get_delivery,
    list_attempts,
    list_deliveries,
    retry_delivery,
    retry_failed,
    status_counts,
)
from vani.outbound.fanout import TEST_EVENT, emit_custom, send_test  # noqa: F401
from vani.outbound.subscriptions import (  # noqa: F401
    ROTATION_WINDOW,
    create_subscription,
    delete_subscription,
    delivery_counts,
    get_subscription,
    list_subscriptions,
    rotate_secret,
    update_subscription,
)
