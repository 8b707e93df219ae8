"""This host's ``GET /metrics`` without the web server: for a host (or a container) that runs only
workers, the scheduler or the mail watcher.

Every process of a host writes what it counts into ``PROMETHEUS_MULTIPROC_DIR``; the web server's
``GET /metrics`` reads them. Where there is no web server, ``flask vani metrics serve`` answers
the same, with the same gate (the bearer token of ``VANI_METRICS_TOKEN``, or loopback only
without one), and nothing else. In a container, where each container is a host of its own, a
long-running process serves it from a thread instead (``VANI_METRICS_SERVE=1``).
"""
from __future__ import annotations

import json
import logging
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from vani import metrics

log = logging.getLogger(__name__)

REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the standard library's name)
        pass


def exporter(config):
    """The WSGI application: ``GET /metrics`` of this host, nothing else."""

    def app(environ, start_response):
        def answer(status: str, body: bytes, content_type: str, extra=()):
            start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra])
            return [body]

        def refuse(code: int, error: str, detail: str, extra=()):
            body = json.dumps({"error": error, "detail": detail}).encode()
            return answer(f"{code} {REASONS[code]}", body, "application/json", extra)

        if environ.get("PATH_INFO") != "/metrics":
            return refuse(404, "not_found", "this server answers GET /metrics only")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return refuse(405, "method_not_allowed", "GET /metrics", [("Allow", "GET, HEAD")])
        refused = metrics.scrape_refusal(config, environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR"))
        if refused is not None:
            status, detail = refused
            if status == 401:
                return refuse(401, "unauthorized", detail, [("WWW-Authenticate", 'Bearer realm="metrics"')])
            return refuse(403, "forbidden", detail)
        return answer("200 OK", generate_latest(metrics.host_registry()), CONTENT_TYPE_LATEST)

    return app


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as a pair; ValueError says what is wrong."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{bind!r}: give HOST:PORT, for example 0.0.0.0:9464")
    return host.strip("[]") or "0.0.0.0", int(port)


def server(config, bind: str):
    host, port = parse_bind(bind)
    return make_server(host, port, exporter(config), server_class=ThreadingWSGIServer, handler_class=_Quiet)


def serve_in_thread(config) -> ThreadingWSGIServer | None:
    """With ``VANI_METRICS_SERVE`` on, serve this host's metrics on ``VANI_METRICS_BIND`` from a
    daemon thread of this process (a container's only process); None when off."""
    if not config.get("VANI_METRICS_SERVE"):
        return None
    bind = config.get("VANI_METRICS_BIND") or "127.0.0.1:9464"
    try:
        httpd = server(config, bind)
    except (OSError, ValueError) as exc:
        log.error("metrics: cannot serve on %s: %s", bind, exc)
        return None
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    log.info("serving this host's metrics on %s", bind)
    return httpd
