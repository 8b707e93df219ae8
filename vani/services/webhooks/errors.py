"""Errors the webhook services raise; the API turns them into 400/404/409 JSON."""
from __future__ import annotations

MAX_ID = 2 ** 63 - 1  # ids are 64-bit: a larger number names no row (and must not reach the database)


class WebhookError(Exception):
    """Base class."""


class InvalidField(WebhookError):
    """Bad input: ``field`` names what was wrong, ``reason`` says why (HTTP 400)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(WebhookError):
    """No such subscription or delivery (HTTP 404)."""


class Conflict(WebhookError):
    """The request does not fit the row's current state (HTTP 409)."""


def check_id(value: int, what: str) -> int:
    """``value`` when it can be a row id; NotFound otherwise."""
    if not 0 <= value <= MAX_ID:
        raise NotFound(f"no {what} {value}")
    return value
