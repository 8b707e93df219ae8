"""What a subscription adds to plain event types: payload filters and custom headers.

A filter is a list of conditions on the event body (``{"id", "type", "timestamp", "data"}``),
all of which must hold: ``{"path": "data.provider", "op": "in", "value": ["calendly"]}``, or the
same as text, ``data.provider in ["calendly"]``. Operators: ``eq`` (``=``), ``ne`` (``!=``),
``in`` and ``exists`` (``data.phone exists``; ``"value": false`` for "is missing"). A path is
dot-separated; a number picks a list item. Checked when saved, applied when deliveries are made.
Reading a filter takes linear time on capped input: a condition as text is at most
``MAX_CONDITION_CHARS`` characters and a whole filter ``MAX_FILTER_CHARS``, both checked before
anything is parsed; the text form is read by a small scanner, not a regular expression.

Custom headers go with every delivery (an API key the receiver needs). They are stored
encrypted, shown masked, and may not replace what signing or HTTP itself needs.
"""
from __future__ import annotations

import json
import re
from typing import Any

from vani.errors import InvalidField
from vani.models.masking import mask_header

OPS = ("eq", "ne", "in", "exists")
TEXT_OPS = {"=": "eq", "==": "eq", "!=": "ne", "in": "in", "exists": "exists", "missing": "exists"}
TEXT_SYMBOLS = ("==", "!=", "=")  # in this order: "==" is not "=" followed by "="
TEXT_WORDS = ("in", "exists", "missing")
MAX_CONDITIONS = 20
MAX_PATH_DEPTH = 10
MAX_VALUE_CHARS = 4000  # a condition's value, as JSON
MAX_CONDITION_CHARS = 5000  # a condition as text: a value at its largest, its path and operator
MAX_FILTER_CHARS = 32000  # a whole filter, as JSON (text conditions counted as they are)
_PATH = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,9}$")  # no two ways to match: linear

MAX_HEADERS = 20
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
REFUSED_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive",
                   "te", "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection", "user-agent"}


# -- filters ---------------------------------------------------------------------------------
def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _split_text(raw: str) -> tuple[str, str, str] | None:
    """``path op value`` read left to right, each character looked at a bounded number of times:
    the path is the first word, the operator comes after spaces (a word operator ends where a
    word does), and the value is the rest on one line, surrounding spaces dropped. None when the
    text is not of that form."""
    text = raw.lstrip()
    end = next((i for i, ch in enumerate(text) if ch.isspace()), len(text))
    path, rest = text[:end], text[end:]
    after = rest.lstrip()
    if not path or len(after) == len(rest):
        return None
    symbol = next((s for s in TEXT_SYMBOLS if after.startswith(s)), None)
    if symbol is None:
        symbol = next((w for w in TEXT_WORDS if after.startswith(w)
                       and not _word_char(after[len(w):len(w) + 1] or " ")), None)
    if symbol is None:
        return None
    value = after[len(symbol):].strip()
    return None if "\n" in value else (path, symbol, value)


def _condition(raw: Any, n: int) -> dict:
    where = f"filter[{n}]"
    if isinstance(raw, str):
        parts = _split_text(raw)
        if parts is None:
            raise InvalidField(where, 'write "path op value", e.g. data.provider in ["calendly"] or data.phone exists')
        path, symbol, text = parts
        op = TEXT_OPS[symbol]
        if op == "exists":
            if text:
                raise InvalidField(where, f"{symbol} takes no value")
            value: Any = symbol == "exists"
        else:
            try:
                value = json.loads(text)
            except ValueError:
                raise InvalidField(where, f"the value must be JSON (quote strings): {text[:40]!r}") from None
        raw = {"path": path, "op": op, "value": value}
    if not isinstance(raw, dict) or set(raw) - {"path", "op", "value"} or "path" not in raw or "op" not in raw:
        raise InvalidField(where, 'a condition is {"path", "op", "value"} or text such as data.provider = "calendly"')
    path, op, value = raw["path"], raw["op"], raw.get("value", True)
    if not isinstance(path, str) or not _PATH.match(path):
        raise InvalidField(where, "path: dot-separated names or list positions, e.g. data.provider")
    if op not in OPS:
        raise InvalidField(where, f"op: one of {', '.join(OPS)}")
    if op == "in" and (not isinstance(value, list) or not value or len(value) > 100):
        raise InvalidField(where, "in needs a list of 1 to 100 values")
    if op == "exists" and not isinstance(value, bool):
        raise InvalidField(where, "exists takes true or false")
    if len(json.dumps(value)) > MAX_VALUE_CHARS:
        raise InvalidField(where, "the value is too large")
    return {"path": path, "op": op, "value": value}


def validate_filter(raw: Any) -> list[dict]:
    """The filter as stored (conditions as objects); raises InvalidField("filter[n]", …)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidField("filter", "a list of conditions (empty: every event of the chosen types)")
    if len(raw) > MAX_CONDITIONS:
        raise InvalidField("filter", f"at most {MAX_CONDITIONS} conditions")
    for n, item in enumerate(raw):
        if isinstance(item, str) and len(item) > MAX_CONDITION_CHARS:
            raise InvalidField(f"filter[{n}]", f"a condition as text is at most {MAX_CONDITION_CHARS} characters")
    size = sum(len(item) if isinstance(item, str) else len(json.dumps(item, ensure_ascii=False, default=str))
               for item in raw)
    if size > MAX_FILTER_CHARS:
        raise InvalidField("filter", f"at most {MAX_FILTER_CHARS} characters in all")
    return [_condition(item, n) for n, item in enumerate(raw)]


def describe(condition: dict) -> str:
    """One condition as text (what the dashboard shows and takes back)."""
    if condition["op"] == "exists":
        return f"{condition['path']} {'exists' if condition['value'] else 'missing'}"
    symbol = {"eq": "=", "ne": "!=", "in": "in"}[condition["op"]]
    return f"{condition['path']} {symbol} {json.dumps(condition['value'], ensure_ascii=False)}"


_MISSING = object()


def _resolve(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def matches(conditions: list[dict] | None, body: dict) -> bool:
    """Whether ``body`` meets every condition (no conditions: yes)."""
    for c in conditions or ():
        found = _resolve(body, c["path"])
        op, value = c["op"], c["value"]
        if op == "exists":
            ok = (found is not _MISSING) == value
        elif op == "eq":
            ok = found is not _MISSING and _same(found, value)
        elif op == "ne":
            ok = found is _MISSING or not _same(found, value)
        else:
            ok = found is not _MISSING and any(_same(found, v) for v in value)
        if not ok:
            return False
    return True


# -- custom headers ----------------------------------------------------------------------------
def validate_headers(raw: Any, current: dict[str, str] | None = None) -> dict[str, str]:
    """Headers to send, checked. A value sent back as shown (masked) keeps the stored one."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidField("headers", 'an object of header names and values, e.g. {"X-Api-Key": "…"}')
    if len(raw) > MAX_HEADERS:
        raise InvalidField("headers", f"at most {MAX_HEADERS} headers")
    kept = {k.lower(): v for k, v in (current or {}).items()}
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidField("headers", f"{str(name)[:40]!r} is not a header name")
        low = name.lower()
        if low.startswith("webhook-") or low in REFUSED_HEADERS:
            raise InvalidField("headers", f"{name} is set by Vani (signing or HTTP itself) and cannot be replaced")
        if low in {k.lower() for k in out}:
            raise InvalidField("headers", f"{name} is given twice")
        if not isinstance(value, str) or not value or len(value) > 1024:
            raise InvalidField("headers", f"{name}: a value of 1 to 1024 characters")
        if low in kept and value == mask_header(kept[low]):
            value = kept[low]
        if any(ch in value for ch in "\r\n\x00") or not value.isprintable():
            raise InvalidField("headers", f"{name}: no line breaks or control characters")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidField("headers", f"{name}: HTTP header values are Latin-1 text") from None
        out[name] = value
    return out


def masked(headers: dict[str, str]) -> dict[str, str]:
    return {name: mask_header(value) for name, value in headers.items()}
