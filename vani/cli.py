"""``flask vani …`` commands. Each module in ``vani/commands`` adds its own to the group."""
from __future__ import annotations

from importlib import import_module

from flask import Flask
from flask.cli import AppGroup

vani_cli = AppGroup("vani", help="Vani administration.")

COMMAND_MODULES = [
    "vani.commands.core",
    "vani.commands.deliveries",
    "vani.commands.webhooks",
    "vani.commands.calendly",
    "vani.commands.maintenance",
    "vani.commands.config_check",
    "vani.commands.notifications",
]


def init_app(app: Flask) -> None:
    for path in COMMAND_MODULES:
        import_module(path)
    app.cli.add_command(vani_cli)
