"""``flask vani notifications …``: check the channels, retry, sweep."""
from __future__ import annotations

import click

from vani import tenancy
from vani.commands.group import for_org, vani_cli
from vani.models import Channel, NotificationKind
from vani.notifications import retry_notification
from vani.notifications.base import ChannelError
from vani.notifications.channels import SENDERS
from vani.notifications.render import Rendered, dashboard_link
from vani.notifications.routing import settings_for

# The channels a person can try or retry by hand (owner and admins need a notification's people).
HAND_CHANNELS = [Channel.SLACK.value, Channel.EMAIL.value, Channel.WEBHOOK.value]
SAMPLE_KINDS = [k.value for k in (NotificationKind.PAYMENT_RECEIVED, NotificationKind.MEETING_COMPLETED,
                                  NotificationKind.PROSPECT_CREATED, NotificationKind.MESSAGE_RECEIVED)]


@vani_cli.group("notifications")
def notifications() -> None:
    """Team notifications (Slack, email, webhook catalogue)."""


@notifications.command("test")
@click.option("--channel", type=click.Choice(HAND_CHANNELS), required=True)
@click.option("--kind", default=NotificationKind.PAYMENT_RECEIVED.value, show_default=True,
              type=click.Choice(SAMPLE_KINDS))
@for_org
def test(channel: str, kind: str) -> None:
    """Send a sample notification through one channel now (nothing is stored)."""

    sender = SENDERS[Channel(channel)]
    cfg = settings_for(tenancy.require())
    missing = sender.missing_setting(cfg)
    if missing:
        raise click.ClickException(missing)
    sample = Rendered(0, kind, "Vani test notification", "This is a test of the notification channel.",
                      [("Prospect", "Ada Lovelace (ada@example.com)"), ("Kind", kind)],
                      dashboard_link("/dashboard/notifications"), None)
    try:
        status, detail = sender.send(sample, cfg)
    except ChannelError as exc:
        raise click.ClickException(f"{channel}: {exc}") from None
    click.echo(f"{channel}: {status} ({detail})")


@notifications.command("retry")
@click.argument("notification_id", type=int)
@click.option("--channel", type=click.Choice(HAND_CHANNELS), help="Only this channel.")
@for_org
def retry(notification_id: int, channel: str | None) -> None:
    """Queue a notification's failed or skipped channels again."""

    try:
        ids = retry_notification(notification_id, channel)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'")) from None
    click.echo(f"notification {notification_id}: queued {len(ids)} send(s)")
