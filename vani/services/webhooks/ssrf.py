"""SSRF guard: subscription URLs must not reach loopback, private, link-local, multicast or
reserved addresses (IPv4 and IPv6, IPv4-mapped included) unless private targets are allowed.

URLs are checked when a subscription is saved, and addresses again at send time: the guarded
connection classes resolve the host, check every address and connect to the checked one, so a
DNS answer cannot change between the check and the connection.
"""
from __future__ import annotations

import contextvars
import ipaddress
import socket
from urllib.parse import urlsplit

from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from vani.services.http import WatchedAdapter, WatchedHTTPConnection, WatchedHTTPSConnection
from vani.errors import InvalidField

# Set by the sender around each request; connections made meanwhile obey it.
allow_private_var: contextvars.ContextVar[bool] = contextvars.ContextVar("vani_allow_private", default=False)


class BlockedTarget(ValueError):
    """The URL's host is, or resolves to, an address Vani must not call."""


def blocked_reason(ip: str) -> str | None:
    """Why ``ip`` may not be called, or None when it is a public unicast address."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is None and addr in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 of an IPv4 address
            mapped = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if mapped is not None:
            inner = blocked_reason(str(mapped))
            return f"{ip} maps to {inner}" if inner else None
    for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(addr, f"is_{name}"):
            return f"{ip} is a {name.replace('_', '-')} address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:  # fec0::/10, deprecated but routed inside
        return f"{ip} is a site-local address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in ipaddress.ip_network("100.64.0.0/10"):
        return f"{ip} is a shared (carrier-grade NAT) address"
    if not addr.is_global:
        return f"{ip} is not a public address"
    return None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to; raises BlockedTarget if any is refused."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedTarget(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise BlockedTarget(f"{host} does not resolve")
    if not allow_private:
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason:
                raise BlockedTarget(f"{host} resolves to a refused address: {reason}")
    return addresses


ALLOWED_PORTS = "80, 443 and 1024-65535"


def port_allowed(port: int) -> bool:
    """Web ports only: no SMTP, SSH, database or other service ports below 1024."""
    return port in (80, 443) or 1024 <= port <= 65535


def check_url(url: str, allow_private: bool, resolve: bool = True, allow_any_port: bool = False) -> None:
    """Validate a subscription URL; raises InvalidField("url", …).

    Without ``resolve`` only IP literals are checked (the send-time connection checks names).
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidField("url", "is required")
    if len(url) > 2048:
        raise InvalidField("url", "must be at most 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidField("url", f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidField("url", "must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise InvalidField("url", "has no host")
    if not allow_any_port and not port_allowed(port):
        raise InvalidField("url", f"port {port} is refused (allowed: {ALLOWED_PORTS}; VANI_ALLOW_ANY_PORT lifts this)")
    if allow_private:
        return
    literal = _literal(host)
    if literal is not None:
        reason = blocked_reason(literal)
        if reason:
            raise InvalidField("url", f"refused: {reason}")
        return
    if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
        raise InvalidField("url", "refused: localhost is a loopback name")
    if resolve:
        try:
            resolve_checked(host, port, allow_private=False)
        except BlockedTarget as exc:
            raise InvalidField("url", f"refused: {exc}") from None


class _Guarded:
    """Mixin: resolve, check, then connect to the checked address (pinned)."""

    def _new_conn(self):  # type: ignore[override]
        host = self._dns_host
        addresses = resolve_checked(host, self.port, allow_private_var.get())
        self._dns_host = addresses[0]
        try:
            return super()._new_conn()
        finally:
            self._dns_host = host


class GuardedHTTPConnection(_Guarded, WatchedHTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, WatchedHTTPSConnection):
    pass


class GuardedAdapter(WatchedAdapter):
    """Connections that check (and pin) every address they connect to, under the call's deadline."""

    pool_classes = {"http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,),
                                 {"ConnectionCls": GuardedHTTPConnection}),
                    "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,),
                                  {"ConnectionCls": GuardedHTTPSConnection})}
