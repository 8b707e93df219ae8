"""Scheduled maintenance, queued by the scheduler (``CRON``) and run by a worker in the app
context: the daily retention cleanup, keeping Calendly connections' tokens fresh, the daily
renewal of Gmail watches, the alerts on silent failure, completing meetings whose end time has
passed, noting unread messages an older version stored; and the Calendly sync the API can ask for."""
from __future__ import annotations

import logging

from flask import current_app

from vani import orgs, retention, tenancy
from vani.conversations import inbox
from vani.notifications import alerts
from vani.outbound.subscriptions import clear_expired_secrets
from vani.payloads.coerce import as_time
from vani.prospects import completion
from vani.providers.calendly.connection import maintain_all, sync
from vani.providers.gmail.sync import renew_watches
from vani.work.scheduler import CronEntry

log = logging.getLogger(__name__)

CLEANUP_CRON = "17 3 * * *"  # daily at 03:17 (the scheduler's local time)


def daily_cleanup() -> dict[str, int]:
    """Delete what ``VANI_RETENTION_DAYS`` no longer keeps."""
    counts = retention.cleanup()
    log.info("retention cleanup (%s days): %s", current_app.config["VANI_RETENTION_DAYS"], counts)
    return counts


def calendly_sync(since: str | None = None, org_id: int | None = None) -> dict:
    """Pull an organisation's missed Calendly bookings (queued by ``POST /api/v1/calendly/sync``)."""

    with tenancy.acting_for(org_id or orgs.default_id()):
        return sync(as_time(since) if since else None).to_dict()


def refresh_calendly_connections() -> dict[str, int]:
    """Every organisation's Calendly connection: tokens expiring within 15 minutes refreshed, and
    the webhook subscription's state as Calendly reports it recorded (a disabled one is logged)."""

    counts = maintain_all(window=900)
    log.info("Calendly connections: %s", counts)
    return counts


def renew_gmail_watches() -> dict[str, int]:
    """Every connected Gmail mailbox's push renewed (Gmail ends a ``users.watch`` after 7 days)."""

    counts = renew_watches()
    log.info("Gmail watches: %s", counts)
    return counts


def check_alerts() -> dict[str, int]:
    """Alert the admins of what failed silently since the last check (once per incident)."""

    return alerts.check()


def forget_expired_secrets() -> int:
    """Subscription secrets replaced more than a rotation window ago are no longer kept."""

    return clear_expired_secrets()


def complete_ended_meetings() -> int:
    """Meetings no provider said ended, completed once their end time has passed by
    ``VANI_MEETING_GRACE_MINUTES`` (idempotent: a second run completes nothing again)."""

    return completion.complete_ended()


def catch_up_unread() -> int:
    """Inbound messages stored during a rolling upgrade by a process that did not yet note them
    on their conversation are noted (so they show unread)."""

    return inbox.catch_up_unread()


# What the scheduler queues besides its own sweep (see vani.work.scheduler.run_scheduler).
CRON = [CronEntry(daily_cleanup, cron=CLEANUP_CRON), CronEntry(forget_expired_secrets, interval=600, timeout=300),
        CronEntry(refresh_calendly_connections, interval=600, timeout=300),
        CronEntry(renew_gmail_watches, interval=24 * 3600, timeout=1800),  # a watch lasts 7 days
        CronEntry(check_alerts, interval=300, timeout=300),
        CronEntry(complete_ended_meetings, interval=60, timeout=300),
        CronEntry(catch_up_unread, interval=600, timeout=300)]
