"""JSON a client sent, made safe to store and to map.

Python's parser accepts what a database refuses or a mapper trips on: NaN and Infinity, numbers
too large for a float (``1e999``), NUL characters and lone UTF-16 surrogates (``"\\ud800"``), and
nesting deep enough to exhaust the stack. ``load_json`` returns the document without them (NaN
and infinities become null, NUL is dropped, a lone surrogate becomes U+FFFD) or raises
``ValueError`` for nesting deeper than ``MAX_DEPTH``.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # real provider payloads nest fewer than 10 levels

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class TooDeep(ValueError):
    """The document nests deeper than ``MAX_DEPTH``."""


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


_DECODER = json.JSONDecoder(parse_constant=lambda _: None, parse_float=_finite_float)


def needs_cleaning(raw: bytes) -> bool:
    """Whether ``raw`` may hold a NUL or a lone surrogate once decoded (plain ``in`` tests: on
    the hot path a regex costs more than the parse itself)."""
    if b"\x00" in raw:
        return True
    if b"\\u" not in raw:
        return False
    return b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw


def clean_text(value: str) -> str:
    """The string without NUL characters and with lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if _LONE_SURROGATE.search(value):
        value = _LONE_SURROGATE.sub("\ufffd", value)
    return value


def clean(value: Any) -> Any:
    """``value`` with every string (keys included) passed through ``clean_text`` and every
    non-finite float replaced by None."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests (stops counting past ``limit``); iterative, so never a RecursionError."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def load_json(raw: bytes | str) -> Any:
    """Decode JSON into a value that any JSON column and any mapper can take.

    Raises ``ValueError`` (``TooDeep`` for excessive nesting) when it cannot."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:  # as json.loads does for bytes (UTF-8/16/32, BOM), with one shared decoder
        value = _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
    except RecursionError:
        raise TooDeep(f"nested more than {MAX_DEPTH} levels deep") from None
    brackets = data.count(b"{") + data.count(b"[")
    if brackets > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise TooDeep(f"nested more than {MAX_DEPTH} levels deep")
    if needs_cleaning(data):
        value = clean(value)
    return value
