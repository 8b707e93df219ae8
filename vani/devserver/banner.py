"""The text the development runner prints when Vani is ready, and when the tunnel URL changes."""
from __future__ import annotations

from vani.devserver.prepare import Admin
from vani.services.tunnel import Tunnel

READY = "Vani is ready"
RULE = "-" * 72


def masked_db(uri: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show its scheme only
        return uri.split(":", 1)[0]


def provider_lines(providers, local_base: str, public_base: str | None) -> list[str]:
    lines = []
    for provider in providers:
        if not provider.routes:
            continue
        route = provider.routes[0]
        lines.append(f"  {provider.title}")
        lines.append(f"      local   {local_base}{route}")
        lines.append(f"      public  {public_base + route if public_base else '(no public URL yet)'}")
    return lines


def render(port: int, redis_description: str, database_uri: str, admin: Admin | None, tunnel: Tunnel,
           providers, workers: int, register: bool) -> str:
    local = f"http://127.0.0.1:{port}"
    lines = [RULE, f"{READY}", "",
             f"  Dashboard   {local}/",
             f"  Database    {masked_db(database_uri)}",
             f"  Redis       {redis_description}",
             f"  Processes   web (gunicorn), {workers} worker(s), scheduler"]
    if admin is not None and admin.password:
        lines += ["", f"  First run: admin {admin.email}  password {admin.password}",
                  "  (shown only now; change it with `flask --app run vani create-user EMAIL`)"]
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
            lines.append("  Register it at the providers: flask --app run vani webhooks register")
    else:
        lines += ["  " + line for line in (tunnel.note or "").splitlines()]
    lines += ["  Try the whole path: flask --app run vani webhooks simulate calendly invitee.created",
              "  Ctrl-C stops everything.", RULE]
    return "\n".join(lines)


def changed(old: str | None, new: str | None, providers, port: int) -> str:
    lines = [RULE, f"Public URL changed: {old or '(none)'} -> {new or '(none)'}"]
    if new:
        lines += provider_lines(providers, f"http://127.0.0.1:{port}", new)
    lines.append(RULE)
    return "\n".join(lines)
