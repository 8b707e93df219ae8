"""Parsing the query-string filters shared by the list pages."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from vani.errors import MAX_ID, InvalidField


def parse_day(field: str, raw: str | None, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` (or ``YYYY-MM-DDTHH:MM``) in UTC. An end date includes its whole day."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if "T" in raw or " " in raw:
            value = datetime.fromisoformat(raw.replace(" ", "T"))
            value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return value.astimezone(timezone.utc)
        day = datetime.fromisoformat(raw).date()
        start = datetime.combine(day, time.min, tzinfo=timezone.utc)
        return start + timedelta(days=1) if end else start
    except (ValueError, OverflowError):
        raise InvalidField(field, "use a date like 2026-01-31") from None


def parse_choice(field: str, raw: str | None, choices) -> str | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw not in choices:
        raise InvalidField(field, f"must be one of {', '.join(choices)}")
    return raw


def parse_bool(field: str, raw: str | None) -> bool | None:
    raw = (raw or "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise InvalidField(field, "must be yes or no")


def parse_int(field: str, raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidField(field, "must be a whole number") from None
    if not 0 <= value <= MAX_ID:
        raise InvalidField(field, "is out of range")
    return value


def parse_ids(field: str, raw: str | None, most: int = 100) -> tuple[int, ...]:
    """Comma-separated ids (``4,9``): at most ``most`` of them, each a whole number in range."""
    parts = list(dict.fromkeys(p.strip() for p in (raw or "").split(",") if p.strip()))
    if len(parts) > most:
        raise InvalidField(field, f"name at most {most} ids")
    return tuple(dict.fromkeys(parse_int(field, p) for p in parts))


def clean_args(args) -> dict[str, str]:
    """The non-empty query arguments, without the cursor (for building page links).

    Names starting with ``_`` are dropped: ``url_for`` reads ``_external``, ``_scheme`` and
    ``_anchor`` as instructions, and a query string must not steer where a link points.
    """
    return {k: v for k, v in args.items()
            if v not in ("", None) and k not in ("cursor", "partial") and not k.startswith("_")}
