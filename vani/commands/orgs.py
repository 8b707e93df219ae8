"""``flask vani create-org|list-orgs|create-user``: organisations and their members."""
from __future__ import annotations

import os
import secrets as pysecrets

import click

from vani import orgs, tenancy
from vani.accounts import memberships, users
from vani.commands.group import for_org, vani_cli
from vani.errors import VaniError
from vani.models import Role
from vani.providers.registry import webhook_paths, webhook_providers


def print_urls(org) -> None:
    """The organisation's webhook URLs, one provider a line (PUBLIC_URL, else a local base)."""
    from flask import current_app

    base = (current_app.config.get("PUBLIC_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}").rstrip("/")
    for provider in webhook_providers():
        paths = webhook_paths(provider, org.key) + (webhook_paths(provider) if org.is_default else [])
        click.echo(f"  {provider.title:<10} {base}{paths[0]}")
        for alias in paths[1:]:
            click.echo(f"  {'':<10} {base}{alias}")


@vani_cli.command("create-org")
@click.argument("name")
@click.option("--slug", help="Short name for --org and the dashboard (default: from NAME).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, e.g. Europe/Berlin.")
def create_org(name: str, slug: str | None, timezone: str) -> None:
    """Create an organisation; prints its slug, key and webhook URLs."""

    try:
        org = orgs.create(name, slug, timezone)
    except VaniError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"organisation {org.name}: slug {org.slug}, key {org.key}")
    click.echo("webhook URLs:")
    print_urls(org)
    click.echo(f"add people with: flask vani create-user EMAIL --org {org.slug} --role admin")


@vani_cli.command("list-orgs")
def list_orgs() -> None:
    """Organisations: slug, name, key, members."""

    orgs.default_id()  # an install before its first request still lists its default organisation
    for org in orgs.all_orgs():
        click.echo(f"{org.slug:<24} {org.name:<32} key {org.key}  {len(memberships.members(org.id))} member(s)")


@vani_cli.command("show-org")
@for_org
def show_org() -> None:
    """An organisation's slug, key and webhook URLs."""

    org = orgs.in_force()
    click.echo(f"organisation {org.name}: slug {org.slug}, key {org.key}, time zone {org.timezone}")
    print_urls(org)


@vani_cli.command("create-user")
@click.argument("email")
@click.option("--password", help="Password for a new account (asked for when omitted); resets an existing one's.")
@click.option("--role", type=click.Choice([str(r) for r in Role]), default=Role.ADMIN.value, show_default=True,
              help="The role in the organisation.")
@click.option("--superuser", is_flag=True, help="May also create organisations (site-wide).")
@for_org
def create_user(email: str, password: str | None, role: str, superuser: bool) -> None:
    """Create a dashboard user in an organisation, or give an existing one a role there (and a
    new password when --password is given): the operator's direct way, where the dashboard invites."""

    if users.find_by_email(email) is None and not password:
        if os.isatty(0):
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = pysecrets.token_urlsafe(12)
            click.echo(f"generated password: {password}")
    org = orgs.in_force()
    try:
        user, created = users.create_user(email, password, role, tenancy.require(), superuser=superuser)
    except VaniError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{'created' if created else 'updated'} {user.email}: {role} of {org.slug}"
               + (" (superuser)" if user.is_superuser else ""))


@vani_cli.command("set-notifications")
@click.option("--routes", help="kind=channel[,channel];… (see VANI_NOTIFY_ROUTES); '' clears.")
@click.option("--slack-url", help="The organisation's Slack incoming-webhook URL; '' clears.")
@click.option("--email-to", help="Comma-separated recipients of notification emails; '' clears.")
@for_org
def set_notifications(routes: str | None, slack_url: str | None, email_to: str | None) -> None:
    """Set where an organisation's notifications go (unset ones fall back to the environment's
    for the default organisation, and to nothing for the others)."""

    try:
        org = orgs.set_notifications(routes=routes, slack_url=slack_url, email_to=email_to)
    except VaniError as exc:
        raise click.ClickException(exc.detail) from None
    slack = "set" if org.slack_url else ("unreadable" if org.slack_unreadable else "unset")
    click.echo(f"{org.slug}: routes {org.notify_routes or '(all configured channels)'}; "
               f"Slack {slack}; email to {org.notify_email_to or 'nobody'}")
