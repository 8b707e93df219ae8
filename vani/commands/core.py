"""Core commands: users, tokens, worker, replay, sweep."""
from __future__ import annotations

import os
import secrets as pysecrets

import click
from sqlalchemy import select

from vani.cli import vani_cli
from vani.extensions import db


@vani_cli.command("create-user")
@click.argument("email")
@click.option("--password", help="Password (asked for when omitted).")
@click.option("--role", type=click.Choice(["admin", "staff", "viewer"]), default="admin", show_default=True)
def create_user(email: str, password: str | None, role: str) -> None:
    """Create a dashboard user, or reset an existing user's password and role."""
    from vani.models import User

    email = email.strip().lower()
    if not password:
        if os.isatty(0):
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = pysecrets.token_urlsafe(12)
            click.echo(f"generated password: {password}")
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    verb = "updated"
    if user is None:
        user, verb = User(email=email), "created"
        db.session.add(user)
    user.set_password(password)
    user.role = role
    db.session.commit()
    click.echo(f"{verb} {role} {email}")


@vani_cli.command("create-token")
@click.argument("name")
def create_token(name: str) -> None:
    """Create an API token; it is printed once."""
    from vani.services.tokens import create_token as make

    row, token = make(name)
    click.echo(f"token {row.id} ({name}); keep it now, it is not shown again:")
    click.echo(token)


@vani_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of forking one per job.")
@click.option("--queue", "queues", multiple=True, help="Queues to listen on (default: every lane, events first).")
def worker(burst: bool, simple: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker with the app context (it rides out Redis restarts)."""
    from vani.work.processes import run_worker

    run_worker(list(queues) or None, burst=burst, simple=simple or None)


@vani_cli.command("replay")
@click.argument("event_id", type=int)
def replay(event_id: int) -> None:
    """Process a stored event again, now, in this process (idempotent)."""
    from vani.models import WebhookEvent
    from vani.services.processing.events import reprocess

    if db.session.get(WebhookEvent, event_id) is None:
        raise click.ClickException(f"no event {event_id}")
    status = reprocess(event_id)
    event = db.session.get(WebhookEvent, event_id)
    click.echo(f"event {event_id}: {status}" + (f" ({event.outcome})" if event.outcome else ""))


@vani_cli.command("sweep")
def sweep() -> None:
    """Take over work of stopped workers and wake every lane with due work (the scheduler does
    this every few seconds)."""
    from vani.work import sweep as engine

    for result in engine.run():
        woken = "woken" if result.woken else ("due, but Redis is unreachable" if result.due else "idle")
        click.echo(f"{result.lane}: {woken}" + (f", took over {result.taken_over}" if result.taken_over else ""))


@vani_cli.command("rotate-encryption-key")
def rotate_encryption_key() -> None:
    """Re-encrypt every stored secret with the first key of VANI_ENCRYPTION_KEYS (then the other
    keys can be removed)."""
    from vani.crypto import SecretUnreadable
    from vani.services.encryption import rotate_all

    try:
        counts = rotate_all()
    except SecretUnreadable as exc:
        raise click.ClickException(str(exc)) from None
    for column, count in counts.items():
        click.echo(f"{column}: {count} re-encrypted")
