"""Outbound webhooks: subscriptions, signed deliveries, retries, dead letters.

Modules: ``subscriptions`` (manage), ``shaping`` (payload filters, custom headers), ``outbox``
(domain events written with the change), ``fanout`` (outbound events → deliveries, custom and
test events), ``delivery_lane`` (the deliveries lane: send through ``vani.egress``, record,
health), ``health`` (failure streaks, 410 Gone), ``limits`` (per organisation and per
subscription), ``deliveries`` (look up, manual retry), ``backfill`` (re-send since a time),
``signing`` (Standard Webhooks). The names below are the public surface for views and commands.
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
