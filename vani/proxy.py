"""Behind a reverse proxy: ``X-Forwarded-For/-Proto/-Host/-Port`` are honoured through werkzeug's
``ProxyFix`` with ``VANI_PROXY_HOPS`` hops, and only when the peer itself is a trusted proxy
(``VANI_TRUSTED_PROXIES``, loopback by default). Anyone else's forwarded headers change nothing,
so ``request.remote_addr``, ``request.scheme`` and ``request.host`` can be believed everywhere."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


@lru_cache(maxsize=32)
def _networks(spec: str) -> tuple:
    nets = []
    for part in (spec or "").replace(";", ",").split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                continue  # check-config reports it
    return tuple(nets)


def trusted(peer: str | None, spec: str) -> bool:
    try:
        address = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:
        return False
    return any(address in net for net in _networks(spec))


LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def loopback_caller(request, config) -> bool:
    """The caller is on this machine: a loopback peer that forwards no one else's call (a proxy on
    this host that Vani was not told about still sends ``X-Forwarded-For``), and no proxy was
    declared (``VANI_TRUST_PROXY``, ``VANI_PROXY_HOPS``). Behind a declared proxy a loopback peer is
    that proxy, which may add no header at all (a TCP-mode balancer, a tunnel), so nobody counts
    as local."""
    if hops(config):
        return False
    return request.remote_addr in LOOPBACK and not any(request.headers.get(h) for h in FORWARDING_HEADERS)


def hops(config) -> int:
    value = config.get("VANI_PROXY_HOPS")
    if value in (None, ""):
        return 1 if config.get("VANI_TRUST_PROXY") else 0
    return max(int(value), 0)


class TrustedProxy:
    def __init__(self, app: Flask):
        self.app, self.wsgi_app = app, app.wsgi_app

    def __call__(self, environ, start_response):
        cfg = self.app.config
        n = hops(cfg)
        if n and trusted(environ.get("REMOTE_ADDR"), cfg.get("VANI_TRUSTED_PROXIES") or ""):
            return ProxyFix(self.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)(environ, start_response)
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    app.wsgi_app = TrustedProxy(app)
