"""``flask vani …`` commands. Each module in ``vani/commands`` adds its own to the group."""
from __future__ import annotations

from flask import Flask

from vani.commands.group import vani_cli


def init_app(app: Flask) -> None:
    from vani.commands import (  # noqa: F401  (each registers its commands on vani_cli)
        calendly,
        config_check,
        core,
        deliveries,
        mail,
        maintenance,
        metrics,
        notifications,
        orgs,
        status,
        webhooks,
    )

    app.cli.add_command(vani_cli)
