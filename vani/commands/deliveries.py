"""``flask vani deliveries …``: outbound webhook deliveries."""
from __future__ import annotations

from datetime import datetime

import click

from vani.commands.group import for_org, vani_cli
from vani.models.base import as_utc
from vani.outbound import NotFound
from vani.outbound import retry_failed as run


@vani_cli.group("deliveries")
def deliveries() -> None:
    """Outbound webhook deliveries."""


def _parse_since(ctx, param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise click.BadParameter("use an ISO-8601 date or date-time, e.g. 2024-05-01T09:00:00Z") from None


@deliveries.command("retry-failed")
@click.option("--since", callback=_parse_since, help="Only deliveries created at or after this ISO time.")
@click.option("--subscription", "subscription_id", type=int, help="Only this subscription's deliveries.")
@for_org
def retry_failed(since: datetime | None, subscription_id: int | None) -> None:
    """Queue every failed delivery again (of active subscriptions)."""

    try:
        count = run(since=since, subscription_id=subscription_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"re-queued {count} failed deliver{'y' if count == 1 else 'ies'}")
