"""Registering Vani's webhook URL at a provider: safety checks, the plan, and the stored secret.

A ``Registrar`` knows one provider's webhook API (list, create, delete). ``register`` decides what
to change: keep Vani's subscription when it already points at the URL, else create one with a
secret Vani generated and stored, and delete only Vani's own stale subscriptions (an old tunnel
URL); subscriptions made by anyone else are left alone.
"""
from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vani import plugins
from vani.orgs.secrets import store_secret, stored_credential
from vani.tunnel import host_kind, split_suffixes


@dataclass
class Remote:
    """A webhook subscription as the provider reports it."""

    id: str
    url: str
    events: list[str] = field(default_factory=list)
    active: bool = True


@dataclass
class Step:
    verb: str  # keep | create | delete | stored | skip | refuse
    text: str
    dry_run: bool = False

    def __str__(self) -> str:
        prefix = "would " if self.dry_run and self.verb in ("create", "delete") else ""
        return f"{prefix}{self.verb} {self.text}"


class Registrar:
    """One provider's webhook API. Subclasses fill in the four provider methods."""

    name = ""                  # provider name in the registry
    credential_setting = ""    # config key of the API credential
    default_events: tuple[str, ...] = ()

    def __init__(self, config, sleep: Callable[[float], None] = time.sleep, org=None):
        self.config = config  # as the organisation sees it (``provider_settings.config_for``)
        self.sleep = sleep
        self.org = org  # the Organisation registering (its keyed URL); None: the default one

    @property
    def provider(self):
        return plugins.installed().get(self.name)

    @property
    def title(self) -> str:
        return self.provider.title

    def missing(self) -> str | None:
        """Why this registrar cannot run (a setting to set), or None."""
        if not self.config.get(self.credential_setting):
            return f"{self.credential_setting} is not set"
        return None

    def events(self) -> list[str]:
        """The events to subscribe to: those Vani's mapper handles among the ones this API knows."""
        explicit = getattr(self.provider, "webhook_events", None)
        if explicit:
            return list(explicit)
        handled = handled_events(self.provider)
        return [e for e in self.default_events if e in handled] or list(self.default_events)

    def target(self, base_url: str) -> str:
        """The organisation's webhook URL (the default organisation keeps its URL without a key)."""
        key = None if self.org is None or self.org.is_default else self.org.key
        return base_url.rstrip("/") + plugins.installed().webhook_paths(self.provider, key)[0]

    # -- provider API ----------------------------------------------------------------------
    def list_remote(self) -> list[Remote]:
        raise NotImplementedError

    def create_remote(self, url: str, events: list[str], secret: str) -> Remote:
        raise NotImplementedError

    def delete_remote(self, remote: Remote) -> None:
        raise NotImplementedError


def handled_events(provider) -> list[str]:
    """The event names the provider's mapper has handlers for, as the provider says (``handlers``)."""
    return list(provider.handlers)


def save_credential(provider_name: str, secret: str, external_id: str, url: str) -> None:
    store_secret(provider_name, secret, external_id, url)


def check_target(url: str, env_name: str, extra_tunnel_hosts: str = "") -> str | None:
    """Why registering ``url`` from this environment is unsafe (overridable with --force), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    kind = host_kind(url, split_suffixes(extra_tunnel_hosts))
    if env_name == "production" and kind in ("local", "tunnel"):
        return (f"refusing to point production credentials at a {kind} URL ({url}); "
                "production registrations need the production URL (use --force to do it anyway)")
    if kind == "local":
        return (f"{url} is a local address that providers cannot reach; "
                "use a tunnel (ngrok) or PUBLIC_URL (use --force to register it anyway)")
    if env_name != "production" and kind == "public":
        return (f"refusing to register {url} from a {env_name} environment: it is not a known tunnel "
                "domain, so it may be production's URL (add your tunnel domain to VANI_TUNNEL_HOSTS, "
                "or use --force)")
    return None


def is_ours(remote: Remote, target: str, stored, routes: tuple[str, ...], env_name: str,
            extra_tunnel_hosts: str = "") -> bool:
    """Subscriptions Vani may replace: the one it stored, ones at the target or its last URL, and,
    outside production, ones at one of its webhook paths on a tunnel or local host (old tunnels)."""
    if stored is not None and (remote.id == stored.external_id or
                               (stored.callback_url and remote.url == stored.callback_url)):
        return True
    if remote.url.rstrip("/") == target.rstrip("/"):
        return True
    if env_name == "production":
        return False
    path = urlsplit(remote.url).path.rstrip("/")
    kind = host_kind(remote.url, split_suffixes(extra_tunnel_hosts))
    return path in {r.rstrip("/") for r in routes} and kind in ("tunnel", "local")


def register(registrar: Registrar, base_url: str, env_name: str, dry_run: bool = False, force: bool = False,
             echo: Callable[[Step], None] = print) -> list[Step]:
    """Make the provider deliver to ``base_url``. Returns (and echoes) every step taken."""
    steps: list[Step] = []

    def say(verb: str, text: str) -> None:
        step = Step(verb, text, dry_run)
        steps.append(step)
        echo(step)

    target = registrar.target(base_url)
    extra = registrar.config.get("VANI_TUNNEL_HOSTS", "")
    refusal = check_target(target, env_name, extra)
    if refusal and not force:
        say("refuse", refusal)
        return steps
    if refusal:
        say("skip", f"safety check overridden by --force: {refusal}")

    wanted = registrar.events()
    stored = stored_credential(registrar.name)
    remotes = registrar.list_remote()
    key = None if registrar.org is None or registrar.org.is_default else registrar.org.key
    routes = tuple(plugins.installed().webhook_paths(registrar.provider, key))
    ours = [r for r in remotes if is_ours(r, target, stored, routes, env_name, extra)]
    current = next((r for r in ours if r.url == target and r.active and set(wanted) <= set(r.events)
                    and stored is not None and stored.external_id == r.id and stored.value), None)
    if current is not None:
        say("keep", f"{registrar.title} subscription {current.id} -> {target} (up to date)")
        first, stale = [], [r for r in ours if r is not current]
    else:
        # The provider refuses a second subscription at the same URL, so that one goes first;
        # stale ones (other URLs) go after the new one exists, so events are never unrouted.
        first = [r for r in ours if r.url == target]
        stale = [r for r in ours if r.url != target]
    for remote in first:
        reason = "inactive" if not remote.active else "created without a secret Vani knows, or missing events"
        say("delete", f"{registrar.title} subscription {remote.id} -> {remote.url} ({reason}; replacing it)")
        if not dry_run:
            registrar.delete_remote(remote)
    if current is None:
        secret = stored.value if stored is not None and stored.value else pysecrets.token_hex(32)
        say("create", f"{registrar.title} subscription -> {target} for {', '.join(wanted)}")
        if not dry_run:
            created = registrar.create_remote(target, wanted, secret)
            save_credential(registrar.name, secret, created.id, target)
            say("stored", f"the secret of {registrar.title} subscription {created.id} (Vani verifies its calls with it)")
    for remote in stale:
        say("delete", f"{registrar.title} subscription {remote.id} -> {remote.url} (Vani's old URL)")
        if not dry_run:
            registrar.delete_remote(remote)
    others = len(remotes) - len(ours)
    if others:
        say("skip", f"{others} other {registrar.title} subscription(s) left alone (not Vani's)")
    return steps
