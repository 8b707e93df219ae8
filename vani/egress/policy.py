"""Which addresses and ports outbound connections may reach: refused ranges, the operator's
allow-list of private targets (``VANI_PRIVATE_TARGETS_ALLOWED``) and the trusted origins of the
provider APIs the operator configured.

A provider API call to a trusted origin (the scheme, host and port of an operator-set base URL
such as ``CALENDLY_API_BASE``) is made as configured, private or not; a link that points elsewhere
(a pagination ``next_page``, a URI from a payload) is checked address by address. Destinations a
tenant or an admin chose (subscriber URLs, Slack, IMAP servers) are always checked
(``destination``): no origin is trusted for them.
"""
from __future__ import annotations

import contextvars
import enum
import ipaddress
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from flask import current_app, has_app_context


class Kind(str, enum.Enum):
    """What is spoken over a connection, which decides the ports it may use."""
    HTTP = "http"
    IMAP = "imap"


PORTS = {Kind.HTTP: "80, 443 and 1024-65535", Kind.IMAP: "143 and 993"}
HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# Operator settings naming a provider's base URL: calls to their origins are trusted.
TRUSTED_SUFFIXES = ("_API_BASE", "_API_BASE_URL", "_AUTH_BASE")


def standard_port(kind: Kind, port: int) -> bool:
    """Web ports only for HTTP (no SMTP, SSH or database ports below 1024); IMAP's own for IMAP."""
    if kind == Kind.IMAP:
        return port in (143, 993)
    return port in (80, 443) or 1024 <= port <= 65535


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


def literal(host: str) -> str | None:
    """``host`` as a normalised IP address, or None when it is a name."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


@dataclass(frozen=True)
class Allowed:
    """One entry of the allow-list: a network (``10.20.0.0/16``, ``fd00::5``), or a host name
    (``crm.office.lan``, ``*.office.lan`` for every name under it)."""
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    name: str | None = None

    def covers(self, host: str, ip: str | None) -> bool:
        if self.network is not None:
            return ip is not None and _in(ip, self.network)
        host = host.strip("[]").rstrip(".").lower()
        if self.name.startswith("*."):
            return host.endswith(self.name[1:])
        return host == self.name

    def __str__(self) -> str:
        return str(self.network) if self.network is not None else str(self.name)


def _in(ip: str, network) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped and network.version == 4:
        addr = addr.ipv4_mapped
    return addr.version == network.version and addr in network


def parse_allowed(text: str | None) -> tuple[tuple[Allowed, ...], list[str]]:
    """The entries of ``VANI_PRIVATE_TARGETS_ALLOWED`` (comma separated), and the ones that are
    neither a network nor a host name."""
    entries, bad = [], []
    for raw in (text or "").split(","):
        item = raw.strip().lower().rstrip(".")
        if not item:
            continue
        try:
            entries.append(Allowed(network=ipaddress.ip_network(item.strip("[]"), strict=False)))
            continue
        except ValueError:
            pass
        if HOST_NAME.match(item) and len(item) <= 253 and not item.replace(".", "").isdigit():
            entries.append(Allowed(name=item))
        else:
            bad.append(raw.strip())
    return tuple(entries), bad


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return parts.scheme, parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


@dataclass(frozen=True)
class Policy:
    """What outbound connections may reach; ``from_config`` reads it from the operator's settings."""
    allow_private: bool = False
    allowed: tuple[Allowed, ...] = ()
    allow_any_port: bool = False
    trusted: frozenset = field(default_factory=frozenset)  # (scheme, host, port) the operator configured

    @classmethod
    def from_config(cls, cfg: Mapping) -> "Policy":
        trusted = set()
        for name, value in cfg.items():
            if isinstance(value, str) and (name.endswith(TRUSTED_SUFFIXES)
                                           or (name.startswith("GOOGLE_") and name.endswith("_URL"))):
                found = origin(value)
                if found:
                    trusted.add(found)
        return cls(allow_private=bool(cfg.get("VANI_ALLOW_PRIVATE_TARGETS")),
                   allowed=parse_allowed(cfg.get("VANI_PRIVATE_TARGETS_ALLOWED"))[0],
                   allow_any_port=bool(cfg.get("VANI_ALLOW_ANY_PORT")), trusted=frozenset(trusted))

    def for_destination(self) -> "Policy":
        """For a destination a tenant or an admin chose: the same rules, no origin trusted."""
        return replace(self, trusted=frozenset())

    def is_trusted(self, scheme: str, host: str, port: int) -> bool:
        return (scheme, host.strip("[]").lower(), port) in self.trusted or \
            (scheme, f"[{host.strip('[]').lower()}]", port) in self.trusted

    def listed(self, host: str, ip: str | None) -> bool:
        return any(entry.covers(host, ip) for entry in self.allowed)

    def port_refused(self, kind: Kind, port: int) -> str | None:
        if self.allow_any_port or standard_port(kind, port):
            return None
        return f"port {port} is refused (allowed: {PORTS[kind]}; VANI_ALLOW_ANY_PORT lifts this)"

    def address_refused(self, host: str, ip: str) -> str | None:
        """Why ``host`` may not be reached at ``ip``, or None."""
        if self.allow_private or self.listed(host, ip):
            return None
        return blocked_reason(ip)


STRICT = Policy()
_forced: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("vani_egress_policy", default=None)


def current() -> Policy:
    """The policy in force: one set with ``using``, else the app's settings, else the strictest."""
    forced = _forced.get()
    if forced is not None:
        return forced
    if has_app_context():
        return Policy.from_config(current_app.config)
    return STRICT


def destination() -> Policy:
    """The policy in force for a destination a tenant or an admin chose (subscriber, Slack, IMAP)."""
    return current().for_destination()


@contextmanager
def using(policy: Policy | None) -> Iterator[Policy]:
    """Connections made inside this block obey ``policy`` (None: the one in force)."""
    if policy is None:
        yield current()
        return
    token = _forced.set(policy)
    try:
        yield policy
    finally:
        _forced.reset(token)
