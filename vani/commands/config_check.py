"""``flask vani check-config``: what is missing or unsafe for production; exits non-zero on errors."""
from __future__ import annotations

import sys
from collections.abc import Mapping

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vani import plugins, tenancy
from vani.commands.group import vani_cli
from vani.config_checks import Finding, core
from vani.crypto import SecretUnreadable
from vani.extensions import db
from vani.models import Organisation, ProviderCredential
from vani.orgs.key_rotation import unreadable_values
from vani.providers.kapso.api_base import send_url
from vani.registration.registrars import registrar_names


def check(config, stored_secret_providers: Mapping[str, list[str]] | set[str],
          skip: set[str] = frozenset()) -> list[Finding]:
    """Judge ``config`` as a production configuration, providers' webhook secrets included
    (``stored_secret_providers``: the providers with a stored secret, each with the slugs of the
    organisations that stored one)."""
    found = core(config)
    stored = (stored_secret_providers if isinstance(stored_secret_providers, Mapping)
              else dict.fromkeys(stored_secret_providers, []))

    def error(message: str) -> None:
        found.append(Finding("error", message))

    registering = registrar_names()
    for provider in plugins.installed().webhook():
        if provider.name in skip:
            continue
        in_env = [name for name in provider.secret_settings if config.get(name)]
        if in_env or provider.name in stored:
            where = in_env[:1]
            if stored.get(provider.name):
                where.append(f"stored for {', '.join(stored[provider.name])}")
            found.append(Finding("ok", f"{provider.title}: webhook secret configured"
                                       + (f" ({'; '.join(where)})" if where else "")))
            continue
        if provider.name == "gmail" and config.get("GMAIL_PUSH_AUDIENCE"):
            found.append(Finding("ok", f"{provider.title}: pushes verified by their OIDC token"))
            continue
        settings = " or ".join(provider.secret_settings)
        register = (" (or run `flask --app run vani webhooks register`)" if provider.name in registering else "")
        error(f"{provider.title}: no webhook secret ({settings} unset"
              f"{' and none registered by Vani' if register else ''}); its webhooks would be refused. "
              f"Set {settings}{register}, or pass --skip {provider.name.replace('_', '-')} if you do not use it")
    if "kapso" not in skip:
        found.append(kapso_send_finding(config))
    return found


def kapso_send_finding(config) -> Finding:
    """Where WhatsApp replies through Kapso go, as resolved from KAPSO_API_BASE_URL (any of the
    forms Kapso's guides give resolves to the same Meta-style path)."""
    url = send_url(config, config.get("KAPSO_PHONE_NUMBER_ID") or "{phone_number_id}")
    given = config.get("KAPSO_API_BASE_URL") or config.get("KAPSO_API_BASE") or "unset"
    return Finding("ok", f"Kapso (WhatsApp): replies are sent to POST {url} with X-API-Key "
                         f"(KAPSO_API_BASE_URL: {given})")


def stored_secret_providers() -> dict[str, list[str]]:
    """Every provider with a stored webhook secret, and the organisations (slugs) that stored one:
    the command runs for the whole install, so it reads across organisations."""
    found: dict[str, list[str]] = {}
    try:
        with tenancy.everywhere():
            rows = db.session.execute(
                select(ProviderCredential.provider, Organisation.slug)
                .join(Organisation, Organisation.id == ProviderCredential.org_id)
                .where(ProviderCredential.name == "webhook_secret")
                .order_by(ProviderCredential.provider, Organisation.slug)).all()
    except SQLAlchemyError:
        db.session.rollback()
        return found
    for provider, slug in rows:
        found.setdefault(provider, []).append(slug)
    return found


def unreadable_secrets() -> list[Finding]:
    """An error for each stored secret none of the keys can decrypt (nothing when the keys or the
    database are unusable: those are reported on their own)."""
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
