"""The SSRF guard: no connection to loopback, private, link-local, multicast or reserved
addresses (IPv4 and IPv6, IPv4-mapped included) or to refused ports, unless the policy allows it.

A refusal names the address only when the caller typed it (an IP literal); a host name that
resolves to a refused address is refused without saying which address, or which range, since
the message reaches admins' forms and the delivery errors every member sees.

Targets are checked when they are saved (``check_url``, ``check_host``) and again at connection
time: ``resolve_checked`` resolves the host and checks every address, and the connection is
made to a checked address (pinned), so a DNS answer cannot change between the check and the
connection. A save refuses only what is known to be refused: a name that does not resolve now
is accepted (DNS may not be set up yet); the connection-time check stays the guard.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

from vani.egress.deadline import watch
from vani.egress.policy import Kind, Policy, current, destination, literal, local_name
from vani.errors import InvalidField


NAME_REFUSED = "resolves to a private or reserved address"


class BlockedTarget(ValueError):
    """The host is, or resolves to, an address (or uses a port) Vani must not call."""


def resolve_checked(host: str, port: int, policy: Policy) -> list[str]:
    """Every address ``host`` resolves to; raises BlockedTarget if any is refused."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BlockedTarget(f"{host} does not resolve") from None
    return [ip for ip, _ in check_addresses(host, infos, policy)]


def check_addresses(host: str, infos: list, policy: Policy) -> list[tuple[str, int]]:
    """``(address, family)`` of each distinct address in ``getaddrinfo``'s answer for ``host``;
    raises BlockedTarget if there is none, or if any is refused."""
    addresses = list(dict.fromkeys((info[4][0], info[0]) for info in infos))
    if not addresses:
        raise BlockedTarget(f"{host} does not resolve")
    for ip, _ in addresses:
        reason = policy.address_refused(host, ip)
        if reason:  # a name's addresses are not told: the message would map the internal network
            raise BlockedTarget(reason if literal(host) is not None else f"{host} {NAME_REFUSED}")
    return addresses


def checked(host: str, port: int, kind: Kind, scheme: str, policy: Policy | None = None) -> list[str] | None:
    """The addresses to connect to (None: a trusted origin, connect as configured). Raises
    BlockedTarget."""
    policy = policy or current()
    if policy.is_trusted(scheme, host, port):
        return None
    reason = policy.port_refused(kind, port)
    if reason:
        raise BlockedTarget(reason)
    return resolve_checked(host, port, policy)


def refusal(host: str, port: int, kind: Kind, policy: Policy, scheme: str) -> str | None:
    """Why a target being saved is refused, or None. Only what is known: a name that does not
    resolve right now passes."""
    if policy.is_trusted(scheme, host, port):
        return None
    reason = policy.port_refused(kind, port)
    if reason or policy.allow_private:
        return reason
    ip = literal(host)
    if ip is not None:
        return policy.address_refused(host, ip)
    if local_name(host) and not policy.listed(host, None):
        return "localhost is a loopback name"
    try:
        resolve_checked(host, port, policy)
    except BlockedTarget as exc:
        return None if str(exc).endswith("does not resolve") else str(exc)
    return None


def check_url(url: str, policy: Policy | None = None, field: str = "url") -> None:
    """Validate an http(s) URL a tenant or an admin chose (default policy: ``destination``);
    raises InvalidField(field, …)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidField(field, "is required")
    if len(url) > 2048:
        raise InvalidField(field, "must be at most 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidField(field, f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidField(field, "must start with http:// or https://")
    if not parts.hostname:
        raise InvalidField(field, "has no host")
    reason = refusal(parts.hostname, port, Kind.HTTP, policy or destination(), parts.scheme)
    if reason:
        raise InvalidField(field, f"refused: {reason}")


def check_host(host: str, port: int, kind: Kind, policy: Policy | None = None, field: str = "host") -> None:
    """Validate a host and port a tenant or an admin chose (an IMAP server; default policy:
    ``destination``); raises InvalidField."""
    policy = policy or destination()
    reason = policy.port_refused(kind, port) if not policy.is_trusted(kind.value, host, port) else None
    if reason:
        raise InvalidField("port", f"refused: {reason}")
    reason = refusal(host, port, kind, policy, kind.value)
    if reason:
        raise InvalidField(field, f"refused: {reason}")


def connect(host: str, port: int, timeout: float | None, kind: Kind, policy: Policy | None = None) -> socket.socket:
    """A TCP connection to ``host:port`` through the guard (default policy: ``destination``),
    under the deadline in force (if any). Raises BlockedTarget, or OSError when no checked
    address answers."""
    addresses = checked(host, port, kind, kind.value, policy or destination())
    if addresses is None:  # a trusted origin: as configured
        sock = socket.create_connection((host, port), timeout=timeout)
        watch(sock)
        return sock
    error: OSError | None = None
    for ip in addresses:
        try:
            sock = socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            error = exc
            continue
        watch(sock)
        return sock
    raise error or OSError(f"could not connect to {host}:{port}")
