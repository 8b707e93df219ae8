"""``flask vani status``: the long-running processes from their heartbeats, silent ones flagged."""
from __future__ import annotations

import click

from vani.commands.group import vani_cli
from vani.work import heartbeat


def _leading(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


@vani_cli.command("status")
def status_command() -> None:
    """List the workers, schedulers and mail watchers with the age of their last heartbeat.

    Exits 1 when no worker or no scheduler is alive (rows silent for three intervals do not count)."""
    found = heartbeat.processes()
    if found:
        click.echo(f"{'ROLE':<13} {'HOST':<24} {'PID':>7}  {'VERSION':<9} {'LAST BEAT':<10} {'LEADING':<8} LANES")
    for p in found:
        flag = "  SILENT" if p.silent else ""
        click.echo(f"{p.role.value:<13} {p.host[:24]:<24} {p.pid:>7}  {p.version[:9]:<9} {p.ago + ' ago':<10} "
                   f"{_leading(p.leading):<8} {','.join(p.lanes) or '-'}{flag}")
    silent = sum(p.silent for p in found)
    if silent:
        click.echo(f"{silent} silent: no heartbeat for over {heartbeat.silent_after_text()} "
                   "(killed, or cut off from the database)")
    missing = heartbeat.missing_roles(found)
    for role in missing:
        click.echo(f"no live {role.value}", err=True)
    if missing:
        raise SystemExit(1)
