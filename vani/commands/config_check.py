"""``flask vani check-config``: what is missing or unsafe for production; exits non-zero on errors."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click
from flask import current_app

from vani.cli import vani_cli

DEFAULT_SECRET_KEY = "dev-insecure-secret-key"


@dataclass
class Finding:
    level: str  # error | warning | ok
    message: str


def check(config, stored_secret_providers: set[str], skip: set[str] = frozenset()) -> list[Finding]:
    """Judge ``config`` as a production configuration."""
    from vani.providers.registry import all_providers
    from vani.services.registration import REGISTRARS

    found: list[Finding] = []

    def error(message: str) -> None:
        found.append(Finding("error", message))

    def warn(message: str) -> None:
        found.append(Finding("warning", message))

    if config.get("ENV_NAME") != "production":
        error(f"VANI_ENV is {config.get('ENV_NAME')!r}: set VANI_ENV=production (secure cookies, "
              "refusal of unsigned webhooks, no private delivery targets by default)")
    secret_key = config.get("SECRET_KEY") or ""
    if secret_key == DEFAULT_SECRET_KEY or len(secret_key) < 32:
        error("SECRET_KEY is the built-in default or shorter than 32 characters: "
              "set a long random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    if config.get("SQLALCHEMY_DATABASE_URI", "").startswith("sqlite"):
        error("the database is SQLite: use PostgreSQL in production (DATABASE_URL=postgresql://...)")
    env_debug = os.environ.get("FLASK_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    if config.get("DEBUG") or env_debug:
        error("debug mode is on: unset FLASK_DEBUG (the debugger runs code for whoever can reach it)")
    if config.get("VANI_ALLOW_PRIVATE_TARGETS"):
        error("VANI_ALLOW_PRIVATE_TARGETS is on: outbound webhooks could be pointed at internal "
              "services; set VANI_ALLOW_PRIVATE_TARGETS=0")
    for provider in all_providers():
        if provider.name in skip:
            continue
        if any(config.get(name) for name in provider.secret_settings) or provider.name in stored_secret_providers:
            found.append(Finding("ok", f"{provider.title}: webhook secret configured"))
            continue
        settings = " or ".join(provider.secret_settings)
        register = (" (or run `flask --app run vani webhooks register`)" if provider.name in REGISTRARS else "")
        error(f"{provider.title}: no webhook secret ({settings} unset"
              f"{' and none registered by Vani' if register else ''}); its webhooks would be refused. "
              f"Set {settings}{register}, or pass --skip {provider.name.replace('_', '-')} if you do not use it")
    if not config.get("PUBLIC_URL"):
        warn("PUBLIC_URL is unset: webhook registration needs --url, and Twilio signatures are checked "
             "against the URL as the request arrived")
    if not config.get("VANI_TRUST_PROXY"):
        warn("VANI_TRUST_PROXY is off: behind a load balancer or reverse proxy set it to 1 so the client "
             "address and public URL come from X-Forwarded-* (only when the proxy sets them)")
    if str(config.get("REDIS_URL", "")).startswith(("redis://127.0.0.1", "redis://localhost")):
        warn("REDIS_URL points at this machine: fine for one host; workers on other hosts need a shared Redis")
    if not (config.get("SLACK_WEBHOOK_URL") or config.get("SMTP_URL")):
        warn("no SLACK_WEBHOOK_URL or SMTP_URL: notifications are recorded but sent nowhere")
    return found


def stored_secret_providers() -> set[str]:
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from vani.extensions import db
    from vani.models import ProviderCredential

    try:
        rows = db.session.execute(select(ProviderCredential.provider).where(
            ProviderCredential.name == "webhook_secret")).scalars()
        return set(rows)
    except SQLAlchemyError:
        db.session.rollback()
        return set()


@vani_cli.command("check-config")
@click.option("--skip", multiple=True, help="A provider you do not use (no secret needed).")
def check_config_command(skip: tuple[str, ...]) -> None:
    """Report what is missing or unsafe for production; exit 1 when anything is."""
    findings = check(current_app.config, stored_secret_providers(), {s.replace("-", "_") for s in skip})
    colours = {"error": "red", "warning": "yellow", "ok": "green"}
    for finding in findings:
        click.secho(f"{finding.level:7} {finding.message}", fg=colours[finding.level])
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        sys.exit(1)
