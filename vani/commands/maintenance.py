"""``flask vani cleanup`` (retention, on demand) and ``flask vani scheduler`` (the cron process)."""
from __future__ import annotations

import click

from vani.cli import vani_cli


@vani_cli.command("cleanup")
@click.option("--days", type=int, help="Delete rows older than this many days (default: VANI_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def cleanup_command(days: int | None, dry_run: bool) -> None:
    """Delete old raw events, rejected calls and delivery attempts (prospects, meetings, notes stay)."""
    from flask import current_app

    from vani.jobs.maintenance import cleanup

    days = current_app.config["VANI_RETENTION_DAYS"] if days is None else days
    try:
        counts = cleanup(days, dry_run=dry_run)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--days") from None
    verb = "would delete" if dry_run else "deleted"
    for label, count in counts.items():
        click.echo(f"{verb} {count} {label.replace('_', ' ')} older than {days} days")


@vani_cli.command("scheduler")
def scheduler_command() -> None:
    """Run RQ's cron scheduler: the minute sweeps and the daily cleanup (run exactly one)."""
    from vani.extensions import redis_ext
    from vani.jobs.maintenance import build_scheduler

    scheduler = build_scheduler(redis_ext.client)
    for job in scheduler.get_jobs():
        when = f"every {job.interval} s" if job.interval else f"cron '{job.cron}'"
        click.echo(f"scheduled {job.name} on {job.queue_name}, {when}")
    scheduler.start()
