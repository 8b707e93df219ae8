"""Reading untrusted payload values: the expected type, or nothing."""
from __future__ import annotations

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
