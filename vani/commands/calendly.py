"""``flask vani calendly sync``: pull Calendly bookings through the webhook path (repairs missed webhooks)."""
from __future__ import annotations

import click

from vani.commands.group import for_org, vani_cli
from vani.commands.progress import Progress
from vani.providers.calendly.sync import parse_since, sync
from vani.registration.http import ApiError


@vani_cli.group("calendly")
def calendly() -> None:
    """Calendly tools."""


@calendly.command("sync")
@click.option("--since", help="Meetings starting on or after this date (YYYY-MM-DD); default 30 days ago.")
@for_org
def sync_command(since: str | None) -> None:
    """Fetch scheduled events and invitees from Calendly and map the ones Vani has not seen."""

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        with Progress() as progress:
            result = sync(start, progress=progress)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"since {result.since}: {result.scheduled_events} scheduled event(s), "
               f"{result.invitees} invitee(s)")
    click.echo(f"stored {result.stored} new event(s), {result.already_known} already known; "
               f"processed {result.processed}, failed {result.failed}")
    if result.failed:
        raise SystemExit(1)
