"""``flask vani …`` commands. Each module in ``vani/commands`` adds its own to the group."""
from __future__ import annotations

import functools

import click
from flask import Flask
from flask.cli import AppGroup

vani_cli = AppGroup("vani", help="Vani administration.")


def for_org(command):
    """Give a command ``--org SLUG``: it runs for that organisation (the default one without)."""

    @click.option("--org", "org_slug", metavar="SLUG", help="The organisation (default: the default one).")
    @functools.wraps(command)
    def wrapped(*args, org_slug: str | None = None, **kwargs):
        from vani import tenancy
        from vani.errors import NotFound
        from vani.services import orgs

        try:
            org_id = orgs.by_slug(org_slug).id if org_slug else orgs.default_id()
        except NotFound as exc:
            raise click.BadParameter(f"{exc.detail} (see `flask vani list-orgs`)", param_hint="--org") from None
        with tenancy.acting_for(org_id):
            return command(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    from vani.commands import (  # noqa: F401  (each registers its commands on vani_cli)
        calendly,
        config_check,
        core,
        deliveries,
        mail,
        maintenance,
        notifications,
        orgs,
        webhooks,
    )

    app.cli.add_command(vani_cli)
