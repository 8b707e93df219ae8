"""``flask vani check-config``: what is missing or unsafe for production; exits non-zero on errors."""
from __future__ import annotations

import sys

import click
from flask import current_app

from vani import plugins
from vani.commands.group import vani_cli
from vani.config_checks import Finding, core
from vani.extensions import db
from vani.models import ProviderCredential
from vani.registration.registrars import registrar_names


def check(config, stored_secret_providers: set[str], skip: set[str] = frozenset()) -> list[Finding]:
    """Judge ``config`` as a production configuration, providers' webhook secrets included."""

    found = core(config)

    def error(message: str) -> None:
        found.append(Finding("error", message))

    registering = registrar_names()
    for provider in plugins.installed().webhook():
        if provider.name in skip:
            continue
        if any(config.get(name) for name in provider.secret_settings) or provider.name in stored_secret_providers:
            found.append(Finding("ok", f"{provider.title}: webhook secret configured"))
            continue
        if provider.name == "gmail" and config.get("GMAIL_PUSH_AUDIENCE"):
            found.append(Finding("ok", f"{provider.title}: pushes verified by their OIDC token"))
            continue
        settings = " or ".join(provider.secret_settings)
        register = (" (or run `flask --app run vani webhooks register`)" if provider.name in registering else "")
        error(f"{provider.title}: no webhook secret ({settings} unset"
              f"{' and none registered by Vani' if register else ''}); its webhooks would be refused. "
              f"Set {settings}{register}, or pass --skip {provider.name.replace('_', '-')} if you do not use it")
    return found


def stored_secret_providers() -> set[str]:
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        rows = db.session.execute(select(ProviderCredential.provider).where(
            ProviderCredential.name == "webhook_secret")).scalars()
        return set(rows)
    except SQLAlchemyError:
        db.session.rollback()
        return set()


def unreadable_secrets() -> list[Finding]:
    """An error for each stored secret none of the keys can decrypt (nothing when the keys or the
    database are unusable: those are reported on their own)."""
    from sqlalchemy.exc import SQLAlchemyError

    from vani.crypto import SecretUnreadable
    from vani.extensions import db
    from vani.orgs.key_rotation import unreadable_values

    try:
        found = unreadable_values()
    except (SecretUnreadable, SQLAlchemyError):
        db.session.rollback()
        return []
    return [Finding("error", f"a stored secret cannot be decrypted with VANI_ENCRYPTION_KEYS ({item})")
            for item in found]


@vani_cli.command("check-config")
@click.option("--skip", multiple=True, help="A provider you do not use (no secret needed).")
def check_config_command(skip: tuple[str, ...]) -> None:
    """Report what is missing or unsafe for production; exit 1 when anything is."""
    findings = check(current_app.config, stored_secret_providers(), {s.replace("-", "_") for s in skip})
    findings += unreadable_secrets()
    colours = {"error": "red", "warning": "yellow", "ok": "green"}
    for finding in findings:
        click.secho(f"{finding.level:7} {finding.message}", fg=colours[finding.level])
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        sys.exit(1)
