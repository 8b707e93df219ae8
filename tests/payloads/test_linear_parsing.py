"""Parsing what prospects and admins type takes linear time and refuses oversize input: payload
filters, emails, phone numbers, auto-reply patterns, retry schedules, cursors, mail headers.

Timed on purpose: each call on adversarial input (long runs of spaces, dots, ``@``, ``=``,
quotes, brackets) must finish well within ``BOUND``, where the backtracking parsers took seconds.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from vani.conversations import rules
from vani.conversations.autoreply import MAX_PATTERN, MAX_REPEATS, matches
from vani.errors import InvalidField
from vani.models import WebhookSubscription
from vani.models.paging import MAX_CURSOR, decode_cursor
from vani.models.replies import AutoReplyRule, RuleTrigger
from vani.outbound.shaping import MAX_CONDITION_CHARS, MAX_FILTER_CHARS, validate_filter
from vani.payloads.coerce import MAX_EMAIL, is_email
from vani.payloads.phones import MAX_PHONE, normalize_phone
from vani.providers.cal_com.forms import _email as cal_com_email
from vani.providers.calendly.shapes import _contact
from vani.providers.gmail.sync import email_in
from vani.work.policy import parse_schedule

BOUND = 0.2  # seconds per call at the cap: ten times and more what linear parsing needs
SUBS = "/api/v1/webhooks/subscriptions"
PIECES = [" ", "  ", ".", "..", "@", "=", "==", "!=", '"', "'", "[", "]", "{", "}", "(", ")", "\\", ",", ":",
          "a", "1", "\t", "\n", " in ", " exists", "data.", "x@y.", "<", ">", "+", "-", "*", "{9}", "\u00a0"]
RUNS = dict(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def adversarial(cap: int):
    """A short prefix, then one piece repeated to a size up to twice ``cap`` (the worst inputs
    are long runs of one thing), then a short tail."""
    return st.builds(lambda head, unit, size, tail: (head + unit * (size // len(unit) + 1))[:size] + tail,
                     st.lists(st.sampled_from(PIECES), max_size=4).map("".join),
                     st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join),
                     st.one_of(st.integers(0, cap), st.integers(cap - 8, cap + 8), st.integers(cap, 2 * cap)),
                     st.sampled_from(["", "x", " x", "@", "\n", '"', "]"]))


def timed(call, *args, bound: float = BOUND):
    """The call's result, asserting it took less than ``bound``: the best of two tries, so that a
    pause of a busy machine is not taken for work that grows with the input."""
    took = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        try:
            result = call(*args)
        except (InvalidField, ValueError) as exc:
            result = exc
        took = min(took, time.perf_counter() - start)
        if took < bound:
            break
    assert took < bound, f"{took:.2f}s on {len(args[0]) if args and isinstance(args[0], str) else '?'} characters"
    return result


# -- payload filters --------------------------------------------------------------------------
@settings(**RUNS)
@given(text=adversarial(MAX_CONDITION_CHARS), prefix=st.sampled_from(["", "data.x = ", "data.x in [", "a ", "data.x != \""]))
def test_a_filter_condition_is_read_in_linear_time(text, prefix):
    text = prefix + text
    result = timed(validate_filter, [text])
    if len(text) > MAX_CONDITION_CHARS:
        assert isinstance(result, InvalidField) and result.field == "filter[0]" and "characters" in result.detail


@settings(**RUNS)
@given(text=adversarial(MAX_CONDITION_CHARS))
def test_a_whole_filter_is_capped_before_its_conditions_are_read(text):
    conditions = [f"data.x{n} = {text!r}"[:MAX_CONDITION_CHARS] for n in range(20)]
    result = timed(validate_filter, conditions)
    if sum(map(len, conditions)) > MAX_FILTER_CHARS:
        assert isinstance(result, InvalidField) and result.field == "filter"


def test_a_60_kb_filter_is_refused_quickly_and_nothing_is_stored(api, db, httpserver):
    worst = "data.x = 1" + " " * 60_000 + "x"
    start = time.perf_counter()
    r = api.post(SUBS, json={"url": httpserver.url_for("/h"), "events": ["*"], "filter": [worst]})
    took = time.perf_counter() - start
    assert r.status_code == 400 and r.get_json()["field"] == "filter[0]", r.get_json()
    assert f"at most {MAX_CONDITION_CHARS} characters" in r.get_json()["detail"]
    assert took < 2.0
    assert db.session.execute(select(func.count(WebhookSubscription.id))).scalar() == 0


def test_text_conditions_read_as_before(api, httpserver):
    """The scanner reads what the pattern read: the first word is the path, then the operator,
    then the value up to the end (surrounding spaces dropped)."""
    cases = {
        '  data.provider   in   ["calendly", "cal_com"]  ': ("data.provider", "in", ["calendly", "cal_com"]),
        "data.amount==10": None, "data.amount == 10": ("data.amount", "eq", 10),
        'type != "deal.lost"': ("type", "ne", "deal.lost"), "data.n =\t\n 1 \n": ("data.n", "eq", 1),
        "data.phone exists": ("data.phone", "exists", True), "data.phone missing \t": ("data.phone", "exists", False),
        "data.phone existsx": None, "data.x inx [1]": None, 'data.x in["a"]': ("data.x", "in", ["a"]),
        "data.x = 1\n2": None, "data.x = [1,\n2]": None, "data.x exists 1": None, "   ": None, "data.x =": None,
        "data.x\n=\u00a0\"a b\"\u2003": ("data.x", "eq", "a b"), "data.x ĩn [1]": None, "data.x iné [1]": None,
    }
    for text, expected in cases.items():
        try:
            (got,) = validate_filter([text])
        except InvalidField as exc:
            assert expected is None and exc.field == "filter[0]", (text, exc.detail)
            continue
        assert expected is not None and (got["path"], got["op"], got["value"]) == expected, text
    at_cap = ('data.note = "' + "x " * 1990 + '"').ljust(MAX_CONDITION_CHARS)  # a 3982-character value
    assert len(at_cap) <= MAX_CONDITION_CHARS and validate_filter([at_cap])[0]["value"].startswith("x x")


# -- emails -----------------------------------------------------------------------------------
@settings(**RUNS)
@given(text=adversarial(MAX_EMAIL), prefix=st.sampled_from(["", "a@", "a@b.", "a" * 64 + "@"]))
def test_the_email_check_is_linear_and_capped(text, prefix):
    text = prefix + text
    assert timed(is_email, text) in (True, False)
    timed(cal_com_email, text)
    timed(_contact, [{"question": "Email", "answer": text}, {"question": "Notes", "answer": text}])
    if len(text) > MAX_EMAIL:
        assert not is_email(text)


def test_the_email_check_reads_as_before():
    good = ["a@b.c", "Ann.Lee+x@Example.co.uk", "a@.c.d", "a@b..", "ñ@dóminio.es", "x" * 64 + "@" + "d" * 251 + ".com"]
    bad = ["", "a", "a@b", "a@.c", "a@b.", "@b.c", "a@@b.c", "a@b@c.d", "a b@c.d", "a@b.c ", "a@b.c\n", "a\u00a0@b.c",
           "x" * 65 + "@b.c", "a@" + "d" * 254 + ".c", "x" * 64 + "@" + "d" * 252 + ".com", "a@" + "." * 50_000 + "@"]
    assert all(is_email(e) for e in good)  # the last: 320 characters in all, the cap
    assert not any(is_email(e) for e in bad)
    worst = "a@" + "." * 50_000 + "@"  # took seconds with the backtracking pattern
    assert timed(_contact, [{"question": "Email", "answer": worst}]) == (None, None, None)
    assert timed(cal_com_email, worst) is None


# -- phone numbers, schedules, cursors, mail headers -------------------------------------------
@settings(**RUNS)
@given(text=adversarial(MAX_PHONE), prefix=st.sampled_from(["", "+1 ", "tel:", "whatsapp:+", "00"]))
def test_phone_numbers_are_read_in_linear_time(text, prefix):
    text = prefix + text
    got = timed(normalize_phone, text)
    if len(text.strip()) > MAX_PHONE:
        assert got is None
    assert normalize_phone("+1 555 010 0002" + " 0" * MAX_PHONE) is None
    assert normalize_phone(" +1 (555) 010-0002 ") == "+15550100002"


@settings(**RUNS)
@given(text=adversarial(2000))
def test_retry_schedules_are_read_in_linear_time(text):
    timed(parse_schedule, "1" + text)
    assert parse_schedule(" 5s, 5 m ,30M,2h ,1.5 d, 7 ") == parse_schedule("5,300,1800,7200,129600,7")
    for bad in ("1" + " " * 20_000 + "x", "5 s s", "s", "1e3", "1_0", "٣s", "-1", "1..2", "5\u00a0s"):
        start = time.perf_counter()
        with pytest.raises(ValueError):
            parse_schedule(bad)
        assert time.perf_counter() - start < BOUND


@settings(**RUNS)
@given(text=adversarial(MAX_CURSOR))
def test_cursors_are_capped(text):
    result = timed(lambda t: decode_cursor(t), text)
    assert isinstance(result, InvalidField) and result.field == "cursor"


@settings(**RUNS)
@given(text=adversarial(20_000), nested=st.integers(0, 5000))
def test_mail_headers_never_break_a_sync(text, nested):
    hostile = "(" * nested + text
    message = {"id": "m1", "payload": {"headers": [{"name": "From", "value": hostile}, {"name": "To", "value": hostile},
                                                   {"name": "Cc", "value": "Ann <ann@example.com>, " + hostile}]}}
    got = timed(email_in, message, [], bound=1.5)  # three headers of 20,000 characters, by the standard parser
    assert got.provider_message_id == "m1" and isinstance(got.cc, list)


def test_mail_headers_read_as_before():
    message = {"id": "m1", "payload": {"headers": [
        {"name": "From", "value": "Ann Lee <Ann@Example.com>"}, {"name": "To", "value": "b@x.io, Carl <c@y.io>"},
        {"name": "Cc", "value": "(team) d@z.io"}]}}
    got = email_in(message, ["SENT"])
    assert (got.from_address, got.from_name, got.to, got.cc, got.direction) == (
        "ann@example.com", "Ann Lee", ["b@x.io", "c@y.io"], ["d@z.io"], "outbound")
    deep = dict(message, payload={"headers": [{"name": "From", "value": "(" * 3000 + "a@b.c"}]})
    assert email_in(deep, []).from_address is None


# -- auto-reply patterns ----------------------------------------------------------------------
RULE = {"name": "r", "trigger": "pattern", "reply_text": "hi"}


@settings(**RUNS)
@given(pattern=adversarial(MAX_PATTERN))
def test_auto_reply_patterns_are_checked_in_bounded_time(app, pattern):
    result = timed(rules.clean, {**RULE, "match": pattern})
    if len(pattern) > MAX_PATTERN:
        assert isinstance(result, InvalidField) and result.field == "match"


@pytest.mark.parametrize("pattern", [
    "(?:a{65535}){65535}", "((a{1000}){1000}){1000}", "(?:[a{]{5000}){5000}", "(?:a{100}){100}", "a{1001}",
    "(?:(?:a|b){40}x{40}){40}", "(?:\\w{5000,}){10}", "(?:a{ 99 }){ 99 }", "(?:(?:a{30}(?#(){30}(?#(){30}",
    "(?:a{99}\\){99}){99}", "(?:a{99}[)]){99}){99}", "(?:a{99}[]){]{99}){99}", "(?:" * 11 + "a{2}" + "){2}" * 11,
])
def test_a_pattern_that_would_expand_past_the_limit_is_refused_before_it_is_compiled(app, pattern):
    start = time.perf_counter()
    with pytest.raises(InvalidField) as refused:
        rules.clean({**RULE, "match": pattern})
    assert time.perf_counter() - start < BOUND
    assert refused.value.field == "match" and str(MAX_REPEATS) in refused.value.detail


@pytest.mark.parametrize("pattern", ["(?x)(?:a { 99 }){ 99 }", "(?ix:a # (\n){99}", "(?x)a"])
def test_verbose_patterns_are_refused(pattern):
    with pytest.raises(InvalidField) as refused:
        rules.clean({**RULE, "match": pattern})
    assert refused.value.field == "match" and "verbose" in refused.value.detail


def test_usual_patterns_still_work(app):
    from datetime import datetime, timezone

    at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for pattern, text in [(r"\b(precio|costo)s?\b", "¿Cuál es el PRECIO?"), (r"\d{3}-\d{4}", "call 555-0100"),
                          (r"^(hola|hi){1,3}!*$", "holahola!!"), (r"x{1000}", "x" * 1000), (r"[{]{2}", "{{")]:
        values = rules.clean({**RULE, "match": pattern})
        rule = AutoReplyRule(id=1, trigger=RuleTrigger.PATTERN, match=values["match"])
        assert matches(rule, text, False, at), pattern
    slow = AutoReplyRule(id=2, trigger=RuleTrigger.PATTERN, match=r"(a|aa)+c")
    start = time.perf_counter()
    assert not matches(slow, "a" * 60_000, False, at)  # the time limit holds as before
    assert time.perf_counter() - start < 1.0


def test_the_api_description_states_the_caps(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for model in ("SubscriptionIn", "SubscriptionPatch"):
        field = next(s for s in schemas[model]["properties"]["filter"]["anyOf"] if s.get("type") == "array")
        assert field["maxItems"] == 20
        assert {"type": "string", "maxLength": MAX_CONDITION_CHARS} in field["items"]["anyOf"]
        assert f"{MAX_FILTER_CHARS} for the whole filter" in schemas[model]["properties"]["filter"]["description"]
    match = schemas["RuleIn"]["properties"]["match"]
    assert next(s for s in match["anyOf"] if s.get("type") == "string")["maxLength"] == 500
    assert f"at most {MAX_PATTERN} characters" in match["description"]
    cursor = next(p for p in doc["paths"]["/api/v1/events"]["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["schema"]["maxLength"] == MAX_CURSOR
