"""Reading untrusted payload values: the expected type, or nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str | None:
    """A non-blank string, stripped, or None."""
    return value.strip() or None if isinstance(value, str) else None


def as_url(value: Any) -> str | None:
    """An http(s) URL, or None."""
    text = as_text(value)
    return text if text and text.lower().startswith(("https://", "http://")) else None


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
