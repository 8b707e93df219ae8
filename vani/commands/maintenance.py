"""``flask vani cleanup`` (retention, on demand), ``flask vani recount-rollups`` and ``flask vani
scheduler`` (the sweep and cron process)."""
from __future__ import annotations

import click

from vani import metrics_export
from vani.commands.group import for_org, vani_cli
from vani.commands.progress import Progress
from vani.jobs.maintenance import CRON
from vani.dashboard.recount import recount
from vani.extensions import db
from vani.models import ProcessRole
from vani.retention import cleanup
from vani.work import heartbeat
from vani.work.lane import installed
from vani.work.scheduler import run_scheduler


@vani_cli.command("cleanup")
@click.option("--days", type=int, help="Delete rows older than this many days (default: VANI_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def cleanup_command(days: int | None, dry_run: bool) -> None:
    """Delete old raw events, rejected calls and delivery attempts (prospects, meetings, notes stay)."""
    from flask import current_app

    days = current_app.config["VANI_RETENTION_DAYS"] if days is None else days
    try:
        with Progress() as progress:
            counts = cleanup(days, dry_run=dry_run, progress=progress)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--days") from None
    verb = "would delete" if dry_run else "deleted"
    for label, count in counts.items():
        click.echo(f"{verb} {count} {label.replace('_', ' ')} older than {days} days")


@vani_cli.command("recount-rollups")
@for_org
def recount_rollups_command() -> None:
    """Recount the overview's hourly rollups from the stored events and deliveries (after an
    upgrade, or an import that went around the work engine)."""
    from vani import tenancy

    recount(tenancy.require())
    db.session.commit()
    click.echo("recounted the hourly rollups")


@vani_cli.command("scheduler")
def scheduler_command() -> None:
    """Sweep every few seconds and queue the cron jobs: run one per host, one copy leads."""
    from flask import current_app

    metrics_export.serve_in_thread(current_app.config)
    click.echo(f"sweeping every {current_app.config.get('VANI_SWEEP_SECONDS', 5)} s")
    for entry in CRON:
        click.echo(f"scheduled {entry.func.__module__}.{entry.func.__name__}: "
                   + (f"every {entry.interval} s" if entry.interval else f"cron '{entry.cron}'"))
    with heartbeat.running(ProcessRole.SCHEDULER, [lane.name for lane in installed()]):
        run_scheduler(CRON)
