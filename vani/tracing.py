"""Request ids in the logs, and the log format.

A request's id comes from its ``X-Request-ID`` header (when it is a sane token) or is made here,
and is sent back in the answer. Inbound events, the outbound events processing emits from them
and the notifications they raise keep it in a column, so the worker that processes an event,
sends its deliveries or sends its notifications logs under the same id: one grep follows an
event from the webhook call to every receiver. ``VANI_LOG_FORMAT=json`` writes one JSON object per
line (``python-json-logger``), ``text`` a plain line with the id in brackets.
"""
from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("vani_request_id", default=None)
HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


def current() -> str | None:
    return REQUEST_ID.get()


def new_id() -> str:
    return uuid.uuid4().hex


def from_header(value: str | None) -> str:
    """The caller's id when it is a sane token (letters, digits and ``._:@/+=-``, up to 64), else a new one."""
    return value if value and _SANE.match(value) else new_id()


@contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Log under ``request_id`` inside the block (a worker doing one event's or one delivery's work)."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                             timestamp=False)
    return logging.Formatter(TEXT_FORMAT)


def handler(fmt: str, stream=None) -> logging.Handler:
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(formatter(fmt))
    out.addFilter(RequestIdFilter())
    out.vani_handler = True
    return out


def configure_logging(fmt: str, level: int = logging.INFO) -> None:
    """The root logger writes ``fmt`` lines (once per process: a second app changes nothing)."""
    root = logging.getLogger()
    if any(getattr(h, "vani_handler", False) for h in root.handlers):
        return
    root.addHandler(handler(fmt))
    root.setLevel(level)


def init_app(app) -> None:
    from flask import g, request

    @app.before_request
    def take_request_id():
        g.request_id = from_header(request.headers.get(HEADER))
        REQUEST_ID.set(g.request_id)

    @app.after_request
    def send_request_id(response):
        if "request_id" in g:
            response.headers[HEADER] = g.request_id
        return response

    @app.teardown_request
    def forget_request_id(exc):
        REQUEST_ID.set(None)  # the thread serves another request next
