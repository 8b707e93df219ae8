"""``flask vani deliveries …``: outbound webhook deliveries: retry the failed ones, backfill a
subscription."""
from __future__ import annotations

from datetime import datetime

import click

from vani.commands.group import for_org, vani_cli
from vani.commands.progress import Progress
from vani.errors import VaniError
from vani.models import BackfillStatus
from vani.models.base import as_utc
from vani.outbound import NotFound, backfill
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


@deliveries.command("backfill")
@click.argument("subscription_id", type=int)
@click.option("--since", callback=_parse_since, required=True, help="Events created at or after this ISO time.")
@click.option("--queue", "queue_only", is_flag=True, help="Only start it; the workers do it (default: here, now).")
@for_org
def backfill_command(subscription_id: int, since: datetime, queue_only: bool) -> None:
    """Send a subscription every event since a time that it has not had (in this process,
    showing progress; exit code 1 when it does not finish)."""
    try:
        started = backfill.start(subscription_id, since)
    except VaniError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"backfill {started.id} of subscription {subscription_id}: {started.total} event(s) to look at")
    if queue_only:
        return
    with Progress() as progress:
        done = backfill.run_here(started.id, progress)
    click.echo(f"backfill {done.id}: {done.status}; looked at {done.scanned or 0} event(s), "
               f"made {done.created or 0} deliver{'y' if done.created == 1 else 'ies'}")
    if done.status != BackfillStatus.DONE:
        click.secho(f"not finished: {done.last_error or 'a worker retries it later'}", fg="red", err=True)
        raise SystemExit(1)
