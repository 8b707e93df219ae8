"""Core commands: tokens, worker, replay, sweep."""
from __future__ import annotations

import click

from vani import heap, metrics_export, tenancy
from vani.accounts.tokens import create_token as make
from vani.accounts.tokens import list_tokens as rows
from vani.accounts.tokens import revoke_token as revoke
from vani.commands.group import for_org, vani_cli
from vani.commands.progress import Progress
from vani.crypto import SecretUnreadable
from vani.errors import NotFound
from vani.extensions import db
from vani.models import Scope, WebhookEvent
from vani.models.base import utcnow
from vani.orgs.key_rotation import rotate_all
from vani.processing.events import reprocess
from vani.work import sweep as engine
from vani.work.workers import run_worker


@vani_cli.command("create-token")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, default=("read",), show_default=True,
              type=click.Choice([str(scope) for scope in Scope]),
              help="What the token may do (repeat for several; admin includes all).")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="The token stops working after this many days.")
@for_org
def create_token(name: str, scopes: tuple[str, ...], expires_in_days: int | None) -> None:
    """Create an organisation's API token; it is printed once."""
    from datetime import timedelta

    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row, token = make(name, scopes, expires)
    click.echo(f"token {row.id} ({name}; scopes {', '.join(row.scopes)}"
               + (f"; expires {row.expires_at:%Y-%m-%d}" if expires else "") + "); keep it now, it is not shown again:")
    click.echo(token)


@vani_cli.command("list-tokens")
@for_org
def list_tokens() -> None:
    """API tokens: id, name, prefix, scopes, last use, expiry, state."""

    for t in rows():
        state = "revoked" if t.revoked_at else ("expired" if t.expired() else "active")
        click.echo(f"{t.id:>5}  {t.name:<24} {t.prefix}…  {','.join(t.scopes):<28} "
                   f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else
                   f"{t.id:>5}  {t.name:<24} {t.prefix}…  {','.join(t.scopes):<28} never used", nl=False)
        click.echo(f"  expires {t.expires_at:%Y-%m-%d}  {state}" if t.expires_at else f"  {state}")


@vani_cli.command("revoke-token")
@click.argument("token_id", type=int)
@for_org
def revoke_token(token_id: int) -> None:
    """Revoke an API token (it stops working at once)."""

    try:
        row = revoke(token_id)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"revoked token {row.id} ({row.name})")


@vani_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of forking one per job.")
@click.option("--queue", "queues", multiple=True, help="Queues to listen on (default: every lane, events first).")
def worker(burst: bool, simple: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker with the app context (it rides out Redis restarts)."""

    from flask import current_app

    if not burst:
        metrics_export.serve_in_thread(current_app.config)
    heap.settle()
    run_worker(list(queues) or None, burst=burst, simple=simple or None)


@vani_cli.command("replay")
@click.argument("event_id", type=int)
def replay(event_id: int) -> None:
    """Process a stored event again, now, in this process (idempotent)."""

    with tenancy.everywhere():  # an event id names one organisation's event
        if db.session.get(WebhookEvent, event_id) is None:
            raise click.ClickException(f"no event {event_id}")
        status = reprocess(event_id)
        event = db.session.get(WebhookEvent, event_id)
    click.echo(f"event {event_id}: {status}" + (f" ({event.outcome})" if event.outcome else ""))


@vani_cli.command("sweep")
def sweep() -> None:
    """Take over work of stopped workers and wake every lane with due work (the scheduler does
    this every few seconds)."""

    for result in engine.run():
        woken = "woken" if result.woken else ("due, but Redis is unreachable" if result.due else "idle")
        click.echo(f"{result.lane}: {woken}" + (f", took over {result.taken_over}" if result.taken_over else ""))


@vani_cli.command("rotate-encryption-key")
def rotate_encryption_key() -> None:
    """Re-encrypt every stored secret with the first key of VANI_ENCRYPTION_KEYS (then the other
    keys can be removed). A stored secret no key can decrypt is left as it is and listed; the
    command then exits with status 1, so keep the old keys until each is stored again."""

    try:
        with Progress() as progress:
            result = rotate_all(progress=progress)
    except SecretUnreadable as exc:
        raise click.ClickException(str(exc)) from None
    for column, count in result.counts.items():
        click.echo(f"{column}: {count} re-encrypted")
    for item in result.skipped:
        click.secho(f"skipped {item}", fg="yellow", err=True)
    if result.skipped:
        click.secho(f"{len(result.skipped)} stored secret(s) could not be decrypted with any key and were left "
                    "as they were: keep the old keys configured until each is stored again", fg="red", err=True)
        raise SystemExit(1)
