"""What a client's JSON becomes before it is stored: no NaN, no NUL, no lone surrogate, bounded depth."""
from __future__ import annotations

import pytest

from vani.ingest import DEDUPE_KEY_MAX, dedupe_key
from vani.payloads.safejson import MAX_DEPTH, TooDeep, clean_text, load_json


def test_values_a_json_column_refuses_are_made_safe():
    doc = load_json(b'{"nan": NaN, "inf": -Infinity, "big": 1e999, "nul": "a\\u0000b", "lone": "x\\ud800y",'
                    b' "pair": "\\ud83d\\ude00", "k\\u0000": 1, "n": 12345678901234567890123, "f": 1.5}')
    assert doc == {"nan": None, "inf": None, "big": None, "nul": "ab", "lone": "x\ufffdy", "pair": "\U0001F600",
                   "k": 1, "n": 12345678901234567890123, "f": 1.5}


def test_encodings_json_allows():
    assert load_json('{"é": 1}'.encode("utf-16")) == {"é": 1}
    assert load_json(b'\xef\xbb\xbf{"a": []}') == {"a": []}
    with pytest.raises(ValueError):
        load_json(b'{"a": "\xff"}')


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_is_bounded_without_exhausting_the_stack():
    assert load_json(nested(MAX_DEPTH)) is not None
    for depth in (MAX_DEPTH + 1, 900, 100_000):
        with pytest.raises(TooDeep):
            load_json(nested(depth))
    # many brackets side by side are not depth
    assert len(load_json(b"[" + b",".join([b"[]"] * 5000) + b"]")) == 5000


def test_clean_text():
    assert clean_text("a\x00\udfffb") == "a\ufffdb"
    assert clean_text("plain") == "plain"


def test_long_dedupe_keys_keep_a_prefix_and_stay_distinct():
    a, b = dedupe_key("k" * 300 + "a"), dedupe_key("k" * 300 + "b")
    assert len(a) == len(b) == DEDUPE_KEY_MAX and a != b and a.startswith("k" * 100)
    assert dedupe_key("short\x00key") == "shortkey"
