"""The public URL that reaches this Vani: ``PUBLIC_URL``, a running ngrok agent, or ngrok via pyngrok.

Also tells tunnel and local URLs apart from real public ones, for the registration safety checks.
"""
from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import requests

# Domains that tunnel services hand out (a reserved ngrok domain can be added with VANI_TUNNEL_HOSTS).
TUNNEL_SUFFIXES = (
    "ngrok.io", "ngrok.app", "ngrok.dev", "ngrok-free.app", "ngrok-free.dev", "ngrok.pizza",
    "trycloudflare.com", "loca.lt", "localhost.run", "lhr.life", "serveo.net", "serveousercontent.com",
    "tunnelmole.net", "devtunnels.ms", "pinggy.link", "pinggy.online", "localtonet.com", "bore.pub",
)
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")

HOW_TO_GET_ONE = (
    "No public URL yet, so providers cannot reach this machine. Any one of these works:\n"
    "  - run `ngrok http {port}` in another terminal (Vani notices it within seconds), or\n"
    "  - set NGROK_AUTHTOKEN (free: https://dashboard.ngrok.com/get-started/your-authtoken) "
    "and Vani starts ngrok itself, or\n"
    "  - set PUBLIC_URL to a URL that forwards to port {port}."
)


class TunnelError(Exception):
    """A tunnel could not be started."""


@dataclass
class Tunnel:
    url: str | None
    source: str | None = None  # "PUBLIC_URL" | "ngrok agent" | "pyngrok"
    note: str | None = None    # why there is none, or what to know about it


def split_suffixes(value: str | None) -> tuple[str, ...]:
    return tuple(s.strip().lower().lstrip(".") for s in (value or "").split(",") if s.strip())


def host_kind(url: str, extra_tunnel_suffixes: tuple[str, ...] = ()) -> str:
    """``local`` (loopback, private network, .localhost), ``tunnel`` (ngrok & co.) or ``public``."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return "local"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return "local" if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified) else "public"
    for suffix in TUNNEL_SUFFIXES + tuple(extra_tunnel_suffixes):
        if host == suffix or host.endswith("." + suffix):
            return "tunnel"
    return "public"


def _addr_port(addr: str) -> int | None:
    match = re.search(r"(?::|^)(\d{2,5})/?$", str(addr).strip())
    return int(match.group(1)) if match else None


def ngrok_agent_url(api_url: str, port: int, timeout: float = 1.0) -> tuple[str | None, str | None]:
    """The https URL of a running ngrok agent's tunnel to ``port`` (and a note when there is none)."""
    try:
        response = requests.get(api_url.rstrip("/") + "/api/tunnels", timeout=timeout)
        response.raise_for_status()
        tunnels = response.json().get("tunnels") or []
    except (requests.RequestException, ValueError, AttributeError):
        return None, None  # no agent running: nothing to say
    elsewhere = []
    for tunnel in sorted(tunnels, key=lambda t: not str(t.get("public_url", "")).startswith("https://")):
        public = str(tunnel.get("public_url") or "")
        target = _addr_port((tunnel.get("config") or {}).get("addr", ""))
        if not public.startswith(("https://", "http://")):
            continue
        if target == port:
            return public.rstrip("/"), None
        elsewhere.append(f"{public} -> port {target}")
    if elsewhere:
        return None, f"an ngrok agent is running, but not for port {port}: {', '.join(elsewhere)}"
    return None, None


_pyngrok_tunnel = None


def start_pyngrok(port: int, authtoken: str) -> str:
    """Start ngrok through pyngrok (it downloads the ngrok binary on first use)."""
    global _pyngrok_tunnel
    try:
        from pyngrok import conf, ngrok

        config = conf.PyngrokConfig(auth_token=authtoken)
        _pyngrok_tunnel = ngrok.connect(str(port), "http", pyngrok_config=config)
    except Exception as exc:  # pyngrok raises its own exception types, and OSError on download
        raise TunnelError(f"could not start ngrok through pyngrok: {exc}") from exc
    return str(_pyngrok_tunnel.public_url).replace("http://", "https://", 1).rstrip("/")


def stop_pyngrok() -> None:
    global _pyngrok_tunnel
    if _pyngrok_tunnel is None:
        return
    try:
        from pyngrok import ngrok

        ngrok.kill()
    except Exception:  # shutting down anyway
        pass
    _pyngrok_tunnel = None


def discover(public_url: str | None, api_url: str, port: int, authtoken: str | None = None,
             start_ngrok: bool = False) -> Tunnel:
    """Find the public base URL, in order: PUBLIC_URL, a running ngrok agent, pyngrok."""
    if public_url:
        return Tunnel(public_url.rstrip("/"), "PUBLIC_URL")
    url, note = ngrok_agent_url(api_url, port)
    if url:
        return Tunnel(url, "ngrok agent")
    if authtoken and start_ngrok:
        try:
            return Tunnel(start_pyngrok(port, authtoken), "pyngrok")
        except TunnelError as exc:
            note = str(exc)
    how = HOW_TO_GET_ONE.format(port=port)
    return Tunnel(None, None, f"{note}\n{how}" if note else how)


class TunnelWatcher(threading.Thread):
    """Calls ``probe`` every ``interval`` seconds and ``on_change(old, new)`` when the URL changes."""

    def __init__(self, probe: Callable[[], str | None], on_change: Callable[[str | None, str | None], None],
                 current: str | None, interval: float = 5.0):
        super().__init__(name="tunnel-watcher", daemon=True)
        self.probe, self.on_change, self.current, self.interval = probe, on_change, current, interval
        self._stop_event = threading.Event()

    def check(self) -> bool:
        """One probe; returns True when the URL changed."""
        new = self.probe()
        if new == self.current:
            return False
        old, self.current = self.current, new
        self.on_change(old, new)
        return True

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.check()
            except Exception:  # a failing probe must not kill the watcher
                continue

    def stop(self) -> None:
        self._stop_event.set()
