"""``flask vani metrics serve``: this host's ``GET /metrics`` for a host without the web server."""
from __future__ import annotations

import click
from flask import current_app

from vani import metrics_export
from vani.commands.group import vani_cli


@vani_cli.group("metrics")
def metrics_group() -> None:
    """Prometheus metrics of this host."""


@metrics_group.command("serve")
@click.option("--bind", default=None, metavar="HOST:PORT",
              help="Where to listen (default: VANI_METRICS_BIND, else 127.0.0.1:9464).")
def serve(bind: str | None) -> None:
    """Serve this host's GET /metrics (for a host without the web server); runs until stopped."""
    bind = bind or current_app.config.get("VANI_METRICS_BIND") or "127.0.0.1:9464"
    try:
        httpd = metrics_export.server(current_app.config, bind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bind") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    click.echo(f"serving this host's metrics on http://{bind}/metrics")
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
