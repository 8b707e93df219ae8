"""``flask vani notifications …``: check the channels, retry, sweep."""
from __future__ import annotations

import click

from vani.cli import for_org, vani_cli


@vani_cli.group("notifications")
def notifications() -> None:
    """Team notifications (Slack, email, webhook catalogue)."""


@notifications.command("test")
@click.option("--channel", type=click.Choice(["slack", "email", "webhook"]), required=True)
@click.option("--kind", default="payment.received", show_default=True,
              type=click.Choice(["payment.received", "meeting.completed", "prospect.created", "message.received"]))
@for_org
def test(channel: str, kind: str) -> None:
    """Send a sample notification through one channel now (nothing is stored)."""
    from vani import tenancy
    from vani.services.notifications.base import ChannelError
    from vani.services.notifications.render import Rendered, dashboard_link
    from vani.services.notifications.routing import missing_setting, settings_for
    from vani.services.notifications.sending import SENDERS

    cfg = settings_for(tenancy.require())
    missing = missing_setting(channel, cfg)
    if missing:
        raise click.ClickException(missing)
    sample = Rendered(0, kind, "Vani test notification", "This is a test of the notification channel.",
                      [("Prospect", "Ada Lovelace (ada@example.com)"), ("Kind", kind)],
                      dashboard_link("/dashboard/notifications"), None)
    try:
        status, detail = SENDERS[channel](sample, cfg)
    except ChannelError as exc:
        raise click.ClickException(f"{channel}: {exc}") from None
    click.echo(f"{channel}: {status} ({detail})")


@notifications.command("retry")
@click.argument("notification_id", type=int)
@click.option("--channel", type=click.Choice(["slack", "email", "webhook"]), help="Only this channel.")
@for_org
def retry(notification_id: int, channel: str | None) -> None:
    """Queue a notification's failed or skipped channels again."""
    from vani.services.notifications import retry_notification

    try:
        ids = retry_notification(notification_id, channel)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'")) from None
    click.echo(f"notification {notification_id}: queued {len(ids)} send(s)")
