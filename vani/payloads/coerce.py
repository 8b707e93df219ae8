"""Reading untrusted payload values: the expected type, or nothing.

Every check here takes linear time on capped input (str methods, no regular expressions), so
whatever a prospect types into a booking form costs at most a few passes over it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

MAX_EMAIL = 320  # RFC 5321: 64 before the @, 255 after
MAX_EMAIL_LOCAL = 64
MAX_EMAIL_DOMAIN = 255


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str | None:
    """A non-blank string, stripped, or None."""
    return value.strip() or None if isinstance(value, str) else None


def as_url(value: Any) -> str | None:
    """An http(s) URL, or None."""
    text = as_text(value)
    return text if text and text.lower().startswith(("https://", "http://")) else None


def is_email(value: Any) -> bool:
    """Whether ``value`` reads as an address: one ``@`` with something before it, a dot inside
    the domain, no spaces; at most 320 characters (64 before the ``@``, 255 after)."""
    if not isinstance(value, str) or not value or len(value) > MAX_EMAIL:
        return False
    local, _, domain = value.partition("@")
    return (0 < len(local) <= MAX_EMAIL_LOCAL and 0 < len(domain) <= MAX_EMAIL_DOMAIN and "@" not in domain
            and "." in domain[1:-1] and not any(ch.isspace() for ch in value))


def as_email(value: Any) -> str | None:
    """An email address as stored: stripped, lower-case, at most 320 characters."""
    email = (value if isinstance(value, str) else "").strip().lower()
    return email[:320] or None


def as_time(value: Any) -> datetime | None:
    """A provider timestamp (ISO 8601 with or without zone, or unix seconds/ms) as UTC, else None."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted past the calendar
        return None
