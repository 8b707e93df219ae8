"""What is missing or unsafe in a configuration, judged for production.

``flask vani check-config`` prints every finding and fails on errors. Every other process runs
the same checks when it starts (``enforce``): in production an error stops it, elsewhere errors
are logged as warnings. The command itself starts whatever it finds, so that it can report it.
Missing provider secrets are left to the command (requests fail closed anyway:
``503 secret_not_configured``), as is everything that needs the database.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from flask import Flask

from vani import crypto
from vani.egress import parse_allowed

log = logging.getLogger("vani.safety")  # the name log filters select these warnings by

DEFAULT_SECRET_KEY = "dev-insecure-secret-key"
MIN_SECRET_KEY = 32


@dataclass
class Finding:
    level: str  # error | warning | ok
    message: str


class UnsafeConfig(RuntimeError):
    """Production refuses to start with these errors."""


def core(config) -> list[Finding]:
    """The checks that need nothing but the settings."""
    found: list[Finding] = []

    def error(message: str) -> None:
        found.append(Finding("error", message))

    def warn(message: str) -> None:
        found.append(Finding("warning", message))

    if config.get("ENV_NAME") != "production":
        error(f"VANI_ENV is {config.get('ENV_NAME')!r}: set VANI_ENV=production (secure cookies, "
              "refusal of unsigned webhooks, no private delivery targets)")
    secret_key = config.get("SECRET_KEY") or ""
    if secret_key == DEFAULT_SECRET_KEY or len(secret_key) < MIN_SECRET_KEY:
        error(f"SECRET_KEY is missing, the built-in default or shorter than {MIN_SECRET_KEY} characters: "
              "set a long random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    problem = crypto.check_keys(config.get("VANI_ENCRYPTION_KEYS"))
    if problem:
        error(f"{problem}: stored secrets are encrypted with it; generate one with "
              "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        error("the database is SQLite: use PostgreSQL in production (DATABASE_URL=postgresql://...)")
    env_debug = os.environ.get("FLASK_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    if config.get("DEBUG") or env_debug:
        error("debug mode is on: unset FLASK_DEBUG (the debugger runs code for whoever can reach it)")
    if config.get("VANI_ALLOW_PRIVATE_TARGETS"):
        error("VANI_ALLOW_PRIVATE_TARGETS is on: outbound webhooks, Slack URLs and IMAP servers could be "
              "pointed at internal services; set VANI_ALLOW_PRIVATE_TARGETS=0 and list the private "
              "targets you need in VANI_PRIVATE_TARGETS_ALLOWED")
    allowed, bad = parse_allowed(config.get("VANI_PRIVATE_TARGETS_ALLOWED"))
    if bad:
        error(f"VANI_PRIVATE_TARGETS_ALLOWED: {', '.join(repr(b) for b in bad)} is neither a network (CIDR) "
              "nor a host name")
    if allowed:
        found.append(Finding("ok", "private targets allowed (VANI_PRIVATE_TARGETS_ALLOWED): "
                                   + ", ".join(str(a) for a in allowed)))
    from vani.work.policy import parse_schedule

    for name in ("VANI_RETRY_SCHEDULE", "VANI_SEND_RETRY_SCHEDULE"):
        try:
            parse_schedule(config.get(name) or "")
        except ValueError as exc:
            error(f"{name}: {exc}")
    if not config.get("PUBLIC_URL"):
        warn("PUBLIC_URL is unset: webhook registration needs --url, and Twilio signatures are checked "
             "against the URL as the request arrived")
    if not (config.get("VANI_TRUST_PROXY") or config.get("VANI_PROXY_HOPS")):
        warn("VANI_PROXY_HOPS is unset: behind a load balancer or reverse proxy set it (and "
             "VANI_TRUSTED_PROXIES) so the client address and public URL come from X-Forwarded-*")
    if str(config.get("REDIS_URL", "")).startswith(("redis://127.0.0.1", "redis://localhost")):
        warn("REDIS_URL points at this machine: fine for one host; workers on other hosts need a shared Redis")
    if not (config.get("SLACK_WEBHOOK_URL") or config.get("SMTP_URL")):
        warn("no SLACK_WEBHOOK_URL or SMTP_URL: notifications are recorded but sent nowhere")
    return found


def reporting(argv: list[str] | None = None) -> bool:
    """True in ``flask vani check-config``, the one process that starts with unsafe settings:
    it reports them (and fails) instead of refusing to start."""
    args = (sys.argv if argv is None else argv)[1:]
    return any(args[i:i + 2] == ["vani", "check-config"] for i in range(len(args)))


def enforce(app: Flask) -> None:
    """At start-up: production refuses to run with an error; elsewhere errors are warnings."""
    env = app.config.get("ENV_NAME")
    if env == "testing" or reporting():
        return
    errors = [f.message for f in core(app.config) if f.level == "error"]
    if env == "production" and errors:
        raise UnsafeConfig("refusing to start in production (`flask --app run vani check-config` reports "
                           "everything to fix):\n  - " + "\n  - ".join(errors))
    for message in errors:
        if not message.startswith("VANI_ENV is") and not message.startswith("the database is SQLite"):
            log.warning("unsafe for production: %s", message)
