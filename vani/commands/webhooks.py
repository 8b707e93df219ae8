"""``flask vani webhooks register|status|simulate``: provider webhook setup and a signed test call."""
from __future__ import annotations

import os
import sys

import click
from flask import current_app

from vani import orgs, samples
from vani.commands.group import for_org, vani_cli
from vani.conversations import templates
from vani.errors import VaniError
from vani.orgs.provider_settings import config_for, store_setting
from vani.orgs.secrets import secrets_for, store_secret
from vani.providers.registry import webhook_paths, webhook_providers
from vani.registration.registrars import ApiError, normalize_name, register, registrars, stored_credential
from vani.tunnel import discover


@vani_cli.group("webhooks")
def webhooks() -> None:
    """Register Vani's webhook URLs at providers, check them, send signed samples."""


def public_base(given: str | None) -> tuple[str | None, str]:
    """The public base URL: --url, PUBLIC_URL, or a running ngrok agent's tunnel to PORT."""

    if given:
        return given.rstrip("/"), "--url"
    cfg = current_app.config
    port = int(os.environ.get("PORT") or 8000)
    tunnel = discover(cfg.get("PUBLIC_URL"), cfg["VANI_NGROK_API_URL"], port)
    return tunnel.url, tunnel.source or (tunnel.note or "")


@webhooks.command("register")
@click.option("--url", "base_url", help="Public base URL (default: PUBLIC_URL, else the running ngrok tunnel).")
@click.option("--provider", "providers", multiple=True, help="Only these providers (calendly, cal-com, kapso).")
@click.option("--dry-run", is_flag=True, help="Show what would change and change nothing.")
@click.option("--force", is_flag=True, help="Override the environment safety checks.")
@for_org
def register_command(base_url: str | None, providers: tuple[str, ...], dry_run: bool, force: bool) -> None:
    """Create or update an organisation's webhook subscription at each configured provider."""

    base, source = public_base(base_url)
    if not base:
        raise click.ClickException(f"no public URL to register.\n{source}")
    env = current_app.config["ENV_NAME"]
    org = orgs.in_force()
    click.echo(f"registering {base} for {org.slug} (from {source}, VANI_ENV={env}){' - dry run' if dry_run else ''}")
    failed = False
    for name, registrar, reason in registrars(config_for(org.id), list(providers) or None, org=org):
        if registrar is None:
            click.echo(f"{name}: skipped - {reason}")
            failed |= bool(providers)  # asked for by name, so not doing it is a failure
            continue
        click.echo(f"{registrar.title}:")
        try:
            steps = register(registrar, base, env, dry_run=dry_run, force=force,
                             echo=lambda step: click.echo(f"  {step}"))
        except ApiError as exc:
            click.secho(f"  error: {exc}", fg="red", err=True)
            failed = True
            continue
        if any(step.verb == "refuse" for step in steps):
            failed = True
    if failed:
        sys.exit(1)


@webhooks.command("status")
@click.option("--provider", "providers", multiple=True, help="Only these providers.")
@for_org
def status_command(providers: tuple[str, ...]) -> None:
    """Show an organisation's stored registrations and what each provider reports."""

    base, _ = public_base(None)
    click.echo(f"public URL: {base or 'none found (set PUBLIC_URL or start ngrok)'}")
    failed = False
    org = orgs.in_force()
    for name, registrar, reason in registrars(config_for(org.id), list(providers) or None, org=org):
        if registrar is None:
            click.echo(f"{name}: not checked - {reason}")
            continue
        target = registrar.target(base) if base else None
        stored = stored_credential(name)
        click.echo(f"{registrar.title}:")
        if stored is None:
            click.echo("  Vani has registered nothing here yet")
        else:
            click.echo(f"  registered by Vani: {stored.external_id} -> {stored.callback_url} "
                       f"(secret stored, updated {stored.updated_at:%Y-%m-%d %H:%M})")
        try:
            remotes = registrar.list_remote()
        except ApiError as exc:
            click.secho(f"  error: {exc}", fg="red", err=True)
            failed = True
            continue
        if not remotes:
            click.echo("  the provider lists no webhook subscriptions")
        for remote in remotes:
            marks = []
            if stored is not None and remote.id == stored.external_id:
                marks.append("Vani's")
            if target and remote.url == target:
                marks.append("current URL")
            if not remote.active:
                marks.append("INACTIVE")
            note = f" [{', '.join(marks)}]" if marks else ""
            click.echo(f"  {remote.id} -> {remote.url}{note}")
        if target and not any(r.url == target and r.active for r in remotes):
            click.secho(f"  nothing delivers to {target}: run `flask vani webhooks register`", fg="yellow")
    if failed:
        sys.exit(1)


@webhooks.command("simulate")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("event", required=False)
@click.option("--url", "base_url", help="Base URL to send to (default: http://127.0.0.1:$PORT).")
@click.option("--bad-signature", is_flag=True, help="Sign with a wrong secret; Vani must answer 401.")
@for_org
def simulate_command(provider_name: str, event: str | None, base_url: str | None, bad_signature: bool) -> None:
    """Send a signed sample EVENT body to PROVIDER's webhook URL and print the answer."""
    import requests

    name = normalize_name(provider_name)
    provider = next((p for p in webhook_providers() if p.name == name), None)
    if provider is None:
        known = ", ".join(p.name for p in webhook_providers())
        raise click.BadParameter(f"unknown provider (known: {known})", param_hint="PROVIDER")
    available = samples.events(name)
    if event is None:
        click.echo(f"samples for {provider.title}: {', '.join(available) or 'none'}")
        return
    try:
        sample = samples.load(name, event)
    except KeyError:
        raise click.BadParameter(f"no sample for {event!r} (have: {', '.join(available) or 'none'})",
                                 param_hint="EVENT") from None
    base = (base_url or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}").rstrip("/")
    org = orgs.in_force()
    path = webhook_paths(provider, None if org.is_default else org.key)[0]
    url = base + path
    secret = next(iter(secrets_for(provider, org.id)), None)
    if bad_signature:
        secret = "not-" + (secret or "the-secret")
    elif secret is None:
        click.secho(f"no secret configured ({' or '.join(provider.secret_settings)}): sending unsigned",
                    fg="yellow")
    # Vani checks URL-signed calls (Twilio) against PUBLIC_URL when it is set, so sign that URL.
    signed_url = (current_app.config.get("PUBLIC_URL") or base).rstrip("/") + path
    headers = samples.request_headers(sample, secret, signed_url)
    click.echo(f"POST {url} ({provider.title} {sample.event}, {len(sample.body)} bytes"
               f"{', wrong signature' if bad_signature else ''})")
    try:
        response = requests.post(url, data=sample.body, headers=headers, timeout=15)
    except requests.RequestException as exc:
        raise click.ClickException(
            f"could not reach {url}: {exc}\nIs Vani running there? The runner's banner shows its port; "
            "pass --url http://127.0.0.1:PORT (or set PORT).") from None
    click.echo(f"{response.status_code} {response.reason}")
    click.echo(response.text.strip()[:2000])
    expected_refusal = bad_signature and response.status_code == 401
    if bad_signature and response.ok:
        click.secho(f"Vani accepted a wrongly signed call: it has no {provider.title} secret "
                    f"({' or '.join(provider.secret_settings)}), so it cannot check signatures "
                    "(development and testing accept such calls, unverified)", fg="red", err=True)
    if (response.status_code >= 400 and not expected_refusal) or (bad_signature and not expected_refusal):
        sys.exit(1)


@webhooks.command("set-secret")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("secret")
@for_org
def set_secret(provider_name: str, secret: str) -> None:
    """Store an organisation's webhook signing secret for PROVIDER (encrypted); the one it
    replaces is accepted 24 h more."""

    name = normalize_name(provider_name)
    if name not in {p.name for p in webhook_providers()}:
        raise click.BadParameter(f"one of {', '.join(p.name for p in webhook_providers())}", param_hint="PROVIDER")
    if len(secret) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="SECRET")
    store_secret(name, secret)
    click.echo(f"{name}: webhook secret stored (the previous one, if any, is accepted for 24 hours)")


@webhooks.command("set-key")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("setting")
@click.argument("value")
@for_org
def set_key(provider_name: str, setting: str, value: str) -> None:
    """Store an organisation's provider API setting (encrypted), e.g. ``set-key kapso
    KAPSO_API_KEY …`` or ``set-key kapso KAPSO_PHONE_NUMBER_ID …``; ``webhooks register`` and
    syncs use it."""

    name = normalize_name(provider_name)
    try:
        store_setting(name, setting, value)
    except VaniError as exc:
        raise click.BadParameter(exc.detail, param_hint="SETTING") from None
    templates.forget()  # the approved templates may now be another account's
    click.echo(f"{name}: {setting.upper()} stored for {orgs.in_force().slug}")
