"""Configuration. Every value comes from the environment (``.env`` is read by python-dotenv).

``Config.from_env()`` picks the class named by ``VANI_ENV`` (development | testing | production).
Unset, it is production, secure by default: only ``make run`` (the development runner),
``flask run`` and the tests get development or testing behaviour without asking for it.
"""
from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent


def load_env_file() -> None:
    """Read ``.env`` beside this file into ``os.environ`` (existing variables win)."""
    load_dotenv(BASE_DIR / ".env", override=False)


def _env(name: str, default: str | None = None, *aliases: str) -> str | None:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value not in (None, ""):
            return value
    return default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _database_url(default: str) -> str:
    url = _env("DATABASE_URL", default)
    # Accept the common spellings and use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def engine_options(url: str) -> dict:
    """The database pool. Each process keeps up to VANI_DB_POOL_SIZE connections open, and opens
    up to VANI_DB_MAX_OVERFLOW more under load: size them so that every process of every host fits
    in the server's max_connections (docs/deploy.md, Scaling). Behind PgBouncer in transaction
    mode (VANI_PGBOUNCER=1), psycopg's prepared statements must be off: a transaction may run on
    another server connection than the one that prepared them."""
    options = {"pool_pre_ping": _flag("VANI_DB_PRE_PING", False), "pool_recycle": 1800, "hide_parameters": True}
    if url.startswith("sqlite"):
        return options
    options.update(pool_size=_int("VANI_DB_POOL_SIZE", 5), max_overflow=_int("VANI_DB_MAX_OVERFLOW", 10),
                   pool_timeout=float(_env("VANI_DB_POOL_TIMEOUT", "10")))
    if _flag("VANI_PGBOUNCER", False):
        options["connect_args"] = {"prepare_threshold": None}
    return options


class Config:
    ENV_NAME = "development"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        instance = BASE_DIR / "instance"
        self.SECRET_KEY = _env("SECRET_KEY", None if self.ENV_NAME == "production" else "dev-insecure-secret-key")
        # Stored secrets are encrypted with these (the first encrypts, all decrypt); see vani/crypto.py.
        self.VANI_ENCRYPTION_KEYS = _env("VANI_ENCRYPTION_KEYS")
        self.SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{instance / 'vani.db'}")
        # No ping per checkout (a round trip per request on the ingest path): a connection the
        # server dropped fails once with a 503 and is replaced; idle ones are recycled. Errors are
        # logged without their bound parameters (they hold prospects' data and secrets).
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.REDIS_URL = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
        # Redis Sentinel: "host:port,host:port" and the master's name; REDIS_URL still gives the
        # database number and password. Every Redis use (queues, live updates) goes through it.
        self.REDIS_SENTINELS = _env("REDIS_SENTINELS")
        self.REDIS_SENTINEL_MASTER = _env("REDIS_SENTINEL_MASTER", "mymaster")
        self.PUBLIC_URL = (_env("PUBLIC_URL", "") or "").rstrip("/")
        # Behind a reverse proxy: how many proxies add X-Forwarded-* (VANI_TRUST_PROXY=1 means one),
        # and the peers allowed to (anyone else's forwarded headers are ignored).
        self.VANI_TRUST_PROXY = _flag("VANI_TRUST_PROXY", False)
        self.VANI_PROXY_HOPS = _env("VANI_PROXY_HOPS")
        self.VANI_TRUSTED_PROXIES = _env("VANI_TRUSTED_PROXIES", "127.0.0.1,::1")
        # Inbound webhooks
        self.CALENDLY_WEBHOOK_SIGNING_KEY = _env("CALENDLY_WEBHOOK_SIGNING_KEY", None, "CALENDLY_WEBHOOK_SECRET")
        self.CAL_COM_WEBHOOK_SECRET = _env("CAL_COM_WEBHOOK_SECRET")
        self.KAPSO_WEBHOOK_SECRET = _env("KAPSO_WEBHOOK_SECRET")
        self.TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN")
        self.GMAIL_PUSH_TOKEN = _env("GMAIL_PUSH_TOKEN")  # shared token on the Pub/Sub push URL
        # While rotating a secret at a provider: the old one, still accepted.
        self.CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS = _env("CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS")
        self.CAL_COM_WEBHOOK_SECRET_PREVIOUS = _env("CAL_COM_WEBHOOK_SECRET_PREVIOUS")
        self.KAPSO_WEBHOOK_SECRET_PREVIOUS = _env("KAPSO_WEBHOOK_SECRET_PREVIOUS")
        self.TWILIO_AUTH_TOKEN_PREVIOUS = _env("TWILIO_AUTH_TOKEN_PREVIOUS")
        self.GMAIL_PUSH_TOKEN_PREVIOUS = _env("GMAIL_PUSH_TOKEN_PREVIOUS")
        self.VANI_MAX_BODY_BYTES = _int("VANI_MAX_BODY_BYTES", 1024 * 1024)
        self.MAX_CONTENT_LENGTH = self.VANI_MAX_BODY_BYTES
        self.VANI_SIGNATURE_TOLERANCE_SECONDS = _int("VANI_SIGNATURE_TOLERANCE_SECONDS", 180)
        # Kapso signs no delivery time: a body whose newest time is older than this is a replay (0: off).
        self.VANI_KAPSO_MAX_AGE_SECONDS = _int("VANI_KAPSO_MAX_AGE_SECONDS", 7 * 86400)
        self.VANI_DEFAULT_PHONE_REGION = _env("VANI_DEFAULT_PHONE_REGION")  # e.g. "US", for numbers without +
        self.VANI_REJECTED_CALLS_MAX = _int("VANI_REJECTED_CALLS_MAX", 10000)  # kept per organisation
        # Past this many refusals in a minute, an organisation's refused calls are sampled (one a second recorded).
        self.VANI_REJECTED_CALLS_PER_MINUTE = _int("VANI_REJECTED_CALLS_PER_MINUTE", 60)
        # Processing
        self.VANI_EVENT_MAX_ATTEMPTS = _int("VANI_EVENT_MAX_ATTEMPTS", 8)
        self.VANI_SWEEP_SECONDS = float(_env("VANI_SWEEP_SECONDS", "5"))  # the scheduler's sweep interval
        self.VANI_DRAIN_SECONDS = float(_env("VANI_DRAIN_SECONDS", "60"))  # a drain job's time budget
        # simple: jobs run in the worker process; fork: a process per job (each leaves metric files)
        self.VANI_WORKER_CLASS = _env("VANI_WORKER_CLASS", "simple")
        # A stopping worker's job may finish or hand its work back for this long before it is ended.
        self.VANI_STOP_GRACE_SECONDS = float(_env("VANI_STOP_GRACE_SECONDS", "8"))
        # Every worker, scheduler and mail watcher writes its heartbeat row this often.
        self.VANI_HEARTBEAT_SECONDS = float(_env("VANI_HEARTBEAT_SECONDS", "2"))
        # RQ's own job-by-job log lines; `make run` sets WARNING to keep the terminal readable.
        self.VANI_WORKER_LOG_LEVEL = _env("VANI_WORKER_LOG_LEVEL", "INFO")
        self.VANI_RETENTION_DAYS = _int("VANI_RETENTION_DAYS", 90)
        # A meeting no provider said ended is completed this long after its end time.
        self.VANI_MEETING_GRACE_MINUTES = _int("VANI_MEETING_GRACE_MINUTES", 15)
        self.VANI_MEETING_NOTIFY_HOURS = _int("VANI_MEETING_NOTIFY_HOURS", 24)
        # Operators: GET /metrics needs this bearer token when set, else it answers loopback only.
        self.VANI_METRICS_TOKEN = _env("VANI_METRICS_TOKEN")
        self.VANI_METRICS_BIND = _env("VANI_METRICS_BIND", "127.0.0.1:9464")  # flask vani metrics serve
        # 1: a worker, scheduler or mail watcher serves this host's metrics on VANI_METRICS_BIND itself
        # (a container of its own; on a host of several processes, run `flask vani metrics serve`)
        self.VANI_METRICS_SERVE = _flag("VANI_METRICS_SERVE", False)
        self.VANI_LOG_FORMAT = _env("VANI_LOG_FORMAT", "text")  # text | json (one object per line)
        # Outbound webhooks
        self.VANI_ALLOW_PRIVATE_TARGETS = _flag("VANI_ALLOW_PRIVATE_TARGETS", self.ENV_NAME != "production")
        self.VANI_ALLOW_ANY_PORT = _flag("VANI_ALLOW_ANY_PORT", False)  # else 80, 443 and 1024-65535 only
        # Private networks and host names production may still call (CIDRs, names, *.suffix; comma separated)
        self.VANI_PRIVATE_TARGETS_ALLOWED = _env("VANI_PRIVATE_TARGETS_ALLOWED", "")
        self.VANI_DELIVERY_TIMEOUT_SECONDS = float(_env("VANI_DELIVERY_TIMEOUT_SECONDS", "15"))
        self.VANI_RETRY_SCHEDULE = _env("VANI_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h")
        self.VANI_RETRY_JITTER = _flag("VANI_RETRY_JITTER", True)  # each wait ±10%
        self.VANI_DELIVERY_BATCH = _int("VANI_DELIVERY_BATCH", 500)  # deliveries a worker claims at once
        # Sends (deliveries, notifications, messages) one process keeps in flight at once, and of
        # those at most this many to one subscription (or one notification channel), so one slow
        # receiver cannot take every slot.
        self.VANI_SEND_CONCURRENCY = _int("VANI_SEND_CONCURRENCY", 32)
        self.VANI_SEND_PER_SUBSCRIPTION = _int("VANI_SEND_PER_SUBSCRIPTION", 20)
        # Per organisation (0: no limit): subscriptions held, and custom events emitted through the API a minute.
        self.VANI_MAX_SUBSCRIPTIONS = _int("VANI_MAX_SUBSCRIPTIONS", 100)
        self.VANI_EMITS_PER_MINUTE = _int("VANI_EMITS_PER_MINUTE", 600)
        # Provider APIs (registration, sync)
        self.CALENDLY_API_TOKEN = _env("CALENDLY_API_TOKEN")
        self.CALENDLY_API_BASE = _env("CALENDLY_API_BASE", "https://api.calendly.com")
        # "Connect Calendly" (OAuth, per organisation): the OAuth app registered at Calendly.
        self.CALENDLY_CLIENT_ID = _env("CALENDLY_CLIENT_ID")
        self.CALENDLY_CLIENT_SECRET = _env("CALENDLY_CLIENT_SECRET")
        self.CALENDLY_REDIRECT_URI = _env("CALENDLY_REDIRECT_URI")  # unset: PUBLIC_URL + /dashboard/calendly/callback
        self.CALENDLY_AUTH_BASE = _env("CALENDLY_AUTH_BASE", "https://auth.calendly.com")
        self.CAL_COM_API_KEY = _env("CAL_COM_API_KEY")
        self.CAL_COM_API_BASE = _env("CAL_COM_API_BASE", "https://api.cal.com")
        self.KAPSO_API_KEY = _env("KAPSO_API_KEY") or _env("KAPSO_API_TOKEN")  # KAPSO_API_TOKEN: an alias
        self.KAPSO_API_BASE_URL = _env("KAPSO_API_BASE_URL") or _env("KAPSO_API_BASE", "https://api.kapso.ai")
        self.KAPSO_API_BASE = self.KAPSO_API_BASE_URL  # the older name
        self.KAPSO_PHONE_NUMBER_ID = _env("KAPSO_PHONE_NUMBER_ID")  # the number whose webhooks Vani registers
        # The WhatsApp Business Account whose approved templates a conversation may start with
        self.KAPSO_BUSINESS_ACCOUNT_ID = _env("KAPSO_BUSINESS_ACCOUNT_ID")
        # Sending WhatsApp replies (Twilio's auth token is TWILIO_AUTH_TOKEN, also its signing secret)
        self.TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID")
        self.TWILIO_WHATSAPP_FROM = _env("TWILIO_WHATSAPP_FROM")  # whatsapp:+14155238886 or +14155238886
        self.TWILIO_API_BASE_URL = _env("TWILIO_API_BASE_URL")  # unset: Twilio's own
        self.TWILIO_CONTENT_BASE_URL = _env("TWILIO_CONTENT_BASE_URL")  # the Content API (templates); unset: Twilio's own
        self.VANI_SEND_TIMEOUT_SECONDS = _int("VANI_SEND_TIMEOUT_SECONDS", 10)
        self.VANI_SEND_MAX_ATTEMPTS = _int("VANI_SEND_MAX_ATTEMPTS", 6)
        self.VANI_SEND_RETRY_SCHEDULE = _env("VANI_SEND_RETRY_SCHEDULE", "10s,30s,2m,10m,30m")  # the last repeats
        self.VANI_AUTOREPLY_COOLDOWN = _int("VANI_AUTOREPLY_COOLDOWN", 3600)  # seconds between auto-replies
        # Alerts on silent failure: a provider is "quiet" after this many usual gaps, and at least these hours
        self.VANI_ALERT_QUIET_FACTOR = float(_env("VANI_ALERT_QUIET_FACTOR", "10"))
        self.VANI_ALERT_QUIET_MIN_HOURS = float(_env("VANI_ALERT_QUIET_MIN_HOURS", "6"))
        # Email: Gmail (OAuth, users.watch, Pub/Sub push with OIDC) and IMAP
        self.GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
        self.GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET")
        self.GOOGLE_REDIRECT_URI = _env("GOOGLE_REDIRECT_URI")  # unset: PUBLIC_URL + /dashboard/mailboxes/gmail/callback
        self.GOOGLE_AUTH_URL = _env("GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")
        self.GOOGLE_TOKEN_URL = _env("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
        self.GOOGLE_REVOKE_URL = _env("GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke")
        self.GOOGLE_CERTS_URL = _env("GOOGLE_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs")
        self.GMAIL_API_BASE_URL = _env("GMAIL_API_BASE_URL", "https://gmail.googleapis.com")
        self.GMAIL_PUBSUB_TOPIC = _env("GMAIL_PUBSUB_TOPIC")  # projects/<project>/topics/<topic>
        self.GMAIL_PUSH_AUDIENCE = _env("GMAIL_PUSH_AUDIENCE")  # the push subscription's OIDC audience
        self.GMAIL_PUSH_SERVICE_ACCOUNT = _env("GMAIL_PUSH_SERVICE_ACCOUNT")  # the push subscription's service account
        self.GMAIL_RESYNC_DAYS = _int("GMAIL_RESYNC_DAYS", 7)
        self.IMAP_HOST = _env("IMAP_HOST")
        self.IMAP_PORT = _int("IMAP_PORT", 993)
        self.IMAP_USER = _env("IMAP_USER")
        self.IMAP_PASSWORD = _env("IMAP_PASSWORD")
        self.IMAP_SSL = _flag("IMAP_SSL", True)
        self.IMAP_FOLDERS = _env("IMAP_FOLDERS", "INBOX,Sent")  # comma separated
        self.VANI_EMAIL_CREATES_PROSPECTS = _flag("VANI_EMAIL_CREATES_PROSPECTS", False)
        self.VANI_MAIL_POLL_SECONDS = _int("VANI_MAIL_POLL_SECONDS", 60)  # IMAP without IDLE, and IDLE's re-check
        self.VANI_MAIL_TIMEOUT_SECONDS = _int("VANI_MAIL_TIMEOUT_SECONDS", 30)
        # Development runner and tunnels
        self.NGROK_AUTHTOKEN = _env("NGROK_AUTHTOKEN")
        self.VANI_NGROK_API_URL = _env("VANI_NGROK_API_URL", "http://127.0.0.1:4040")
        self.VANI_TUNNEL_HOSTS = _env("VANI_TUNNEL_HOSTS", "")  # extra tunnel domains, comma separated
        self.VANI_ADMIN_EMAIL = _env("VANI_ADMIN_EMAIL")
        self.VANI_ADMIN_PASSWORD = _env("VANI_ADMIN_PASSWORD")
        # Notifications
        self.SLACK_WEBHOOK_URL = _env("SLACK_WEBHOOK_URL")
        self.SMTP_URL = _env("SMTP_URL")
        self.VANI_NOTIFY_EMAIL_TO = _env("VANI_NOTIFY_EMAIL_TO")
        self.VANI_NOTIFY_EMAIL_FROM = _env("VANI_NOTIFY_EMAIL_FROM", "vani@localhost")
        self.VANI_NOTIFY_ROUTES = _env("VANI_NOTIFY_ROUTES")  # e.g. "payment.received=slack,email;*=slack"
        self.VANI_NOTIFY_MAX_ATTEMPTS = _int("VANI_NOTIFY_MAX_ATTEMPTS", 6)
        self.VANI_NOTIFY_TIMEOUT_SECONDS = float(_env("VANI_NOTIFY_TIMEOUT_SECONDS", "10"))
        # Dashboard
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None
        self.VANI_LOGIN_MAX_PER_ACCOUNT = _int("VANI_LOGIN_MAX_PER_ACCOUNT", 5)
        self.VANI_LOGIN_MAX_PER_ADDRESS = _int("VANI_LOGIN_MAX_PER_ADDRESS", 20)
        self.VANI_LOGIN_WINDOW_SECONDS = _int("VANI_LOGIN_WINDOW_SECONDS", 900)  # a quiet streak is forgotten
        self.VANI_LOGIN_MAX_DELAY_SECONDS = _int("VANI_LOGIN_MAX_DELAY_SECONDS", 900)  # the longest backoff
        self.VANI_SSE_MAX_SECONDS = _int("VANI_SSE_MAX_SECONDS", 25)  # below gunicorn's worker timeout
        self.VANI_DASHBOARD_PAGE_SIZE = _int("VANI_DASHBOARD_PAGE_SIZE", 50)

    @staticmethod
    def from_env(name: str | None = None) -> "Config":
        name = (name or _env("VANI_ENV") or ("development" if _flask_run() else "production")).lower()
        classes = {"development": DevelopmentConfig, "testing": TestingConfig, "production": ProductionConfig}
        if name not in classes:
            raise ValueError(f"VANI_ENV must be one of {', '.join(classes)}, not {name!r}")
        return classes[name]()


def _flask_run() -> bool:
    """True inside ``flask run`` (the development server), whose click command loads the app."""
    import click

    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.info_name == "run" and ctx.command.name == "run":
            return True
        ctx = ctx.parent
    return False


class DevelopmentConfig(Config):
    ENV_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        self.DEBUG = _flag("FLASK_DEBUG", False)  # read now, so a FLASK_DEBUG in .env counts too
        if not self.VANI_ENCRYPTION_KEYS:
            from vani.crypto import development_keys

            self.VANI_ENCRYPTION_KEYS = development_keys(BASE_DIR / "instance")


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = _database_url("sqlite://")
        self.WTF_CSRF_ENABLED = True
        self.VANI_RETRY_JITTER = False
        # The captured provider fixtures are from 2025: the replay window is tested where it is set.
        self.VANI_KAPSO_MAX_AGE_SECONDS = 0
        self.VANI_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"  # tests sign in hundreds of times; never read from the environment
        if not self.VANI_ENCRYPTION_KEYS:
            from vani.crypto import TESTING_KEY

            self.VANI_ENCRYPTION_KEYS = TESTING_KEY


class ProductionConfig(Config):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        self.SESSION_COOKIE_SECURE = True
        self.REMEMBER_COOKIE_SECURE = True
        self.PREFERRED_URL_SCHEME = "https"
        self.VANI_HSTS = _flag("VANI_HSTS", True)  # Strict-Transport-Security on every answer
