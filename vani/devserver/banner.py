"""The text the development runner prints when Vani is ready, and when the tunnel URL changes."""
from __future__ import annotations

from pathlib import Path

from vani.devserver.prepare import Admin
from vani.tunnel import Tunnel

READY = "Vani is ready"
RULE = "-" * 72
DEFAULT_CLI = "flask --app run vani"
DEFAULT_PORT = 8000


def cli_prefix(python: str, project_dir: Path) -> str:
    """How to call Vani's commands from the project directory: ``.venv/bin/flask --app run vani``
    when the runner's Python is the project's virtualenv (not on PATH unless activated)."""
    flask = Path(python).parent / "flask"
    try:
        relative = flask.relative_to(project_dir)
    except ValueError:
        return DEFAULT_CLI
    return f"{relative} --app run vani" if flask.exists() else DEFAULT_CLI


def masked_db(uri: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show its scheme only
        return uri.split(":", 1)[0]


def provider_lines(providers: list[tuple[str, str]], local_base: str, public_base: str | None) -> list[str]:
    """``providers``: (title, webhook path) pairs."""
    lines = []
    for title, route in providers:
        lines.append(f"  {title}")
        lines.append(f"      local   {local_base}{route}")
        lines.append(f"      public  {public_base + route if public_base else '(no public URL yet)'}")
    return lines


def render(port: int, redis_description: str, database_uri: str, admin: Admin | None, tunnel: Tunnel,
           providers, workers: int, register: bool, cli: str = DEFAULT_CLI) -> str:
    local = f"http://127.0.0.1:{port}"
    lines = [RULE, f"{READY}", "",
             f"  Dashboard   {local}/",
             f"  Database    {masked_db(database_uri)}",
             f"  Redis       {redis_description}",
             f"  Processes   web (gunicorn), {workers} worker(s), scheduler, mail watcher"]
    if admin is not None and admin.password:
        lines += ["", f"  First run: admin {admin.email}  password {admin.password}",
                  f"  (shown only now; change it with `{cli} create-user {admin.email}`)"]
    elif admin is not None:
        lines += ["", f"  First run: admin {admin.email} created with VANI_ADMIN_PASSWORD"]
    lines += ["", "  Webhook URLs (give the public one to the provider):"]
    lines += provider_lines(providers, local, tunnel.url)
    lines.append("")
    if tunnel.url:
        lines.append(f"  Public URL  {tunnel.url} (from {tunnel.source})")
        if register:
            lines.append("  Registering it at the providers (--register) ...")
        else:
            lines.append(f"  Register it at the providers: {cli} webhooks register")
    else:
        lines += ["  " + line for line in (tunnel.note or "").splitlines()]
    to = "" if port == DEFAULT_PORT else f" --url {local}"
    lines += [f"  Try the whole path: {cli} webhooks simulate calendly invitee.created{to}",
              "  Ctrl-C stops everything.", RULE]
    return "\n".join(lines)


def changed(old: str | None, new: str | None, providers, port: int) -> str:
    lines = [RULE, f"Public URL changed: {old or '(none)'} -> {new or '(none)'}"]
    if new:
        lines += provider_lines(providers, f"http://127.0.0.1:{port}", new)
    lines.append(RULE)
    return "\n".join(lines)
