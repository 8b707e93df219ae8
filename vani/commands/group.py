"""The ``flask vani`` command group, and ``--org`` for commands about one organisation's data."""
from __future__ import annotations

import functools

import click
from flask.cli import AppGroup

from vani import orgs, tenancy
from vani.errors import NotFound

vani_cli = AppGroup("vani", help="Vani administration.")


def for_org(command):
    """Give a command ``--org SLUG``: it runs for that organisation (the default one without)."""

    @click.option("--org", "org_slug", metavar="SLUG", help="The organisation (default: the default one).")
    @functools.wraps(command)
    def wrapped(*args, org_slug: str | None = None, **kwargs):
        try:
            org_id = orgs.by_slug(org_slug).id if org_slug else orgs.default_id()
        except NotFound as exc:
            raise click.BadParameter(f"{exc.detail} (see `flask vani list-orgs`)", param_hint="--org") from None
        with tenancy.acting_for(org_id):
            return command(*args, **kwargs)

    return wrapped
