"""Auto-reply rules: checked when saved (a bad pattern or hours never reach a conversation),
kept in the order an admin gives them. Keywords and patterns are capped in length, and a pattern
is checked by a linear scan before it is compiled (see ``autoreply``)."""
from __future__ import annotations

import re
from collections.abc import Mapping

import regex
from sqlalchemy import func, select

from vani.conversations import outgoing
from vani.conversations.autoreply import DAYS, MAX_KEYWORDS, MAX_PATTERN, compiled, keywords
from vani.errors import InvalidField, NotFound
from vani.extensions import db
from vani.models.replies import AutoReplyRule, RuleTrigger
from vani.payloads.safejson import clean as clean_strings

FIELDS = {"name", "trigger", "match", "hours", "reply_text", "template", "active", "position"}
SPAN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")
MAX_RULES = 100


def all_rules() -> list[AutoReplyRule]:
    return list(db.session.execute(select(AutoReplyRule).order_by(AutoReplyRule.position, AutoReplyRule.id)).scalars())


def get(rule_id: int) -> AutoReplyRule:
    rule = db.session.get(AutoReplyRule, rule_id)
    if rule is None:
        raise NotFound(f"no auto-reply rule {rule_id}")
    return rule


def _hours(value) -> dict:
    if not isinstance(value, Mapping) or not value:
        raise InvalidField("hours", 'give the opening hours per day, e.g. {"mon": ["09:00-17:00"]}')
    out = {}
    for day, spans in value.items():
        if day not in DAYS:
            raise InvalidField("hours", f"unknown day {str(day)[:10]!r} (use {', '.join(DAYS)})")
        if isinstance(spans, str):
            spans = [s.strip() for s in spans.split(",") if s.strip()]
        if not isinstance(spans, list) or len(spans) > 6:
            raise InvalidField("hours", f"{day}: a list of at most 6 spans such as 09:00-17:00")
        for span in spans:
            if not isinstance(span, str) or not SPAN.match(span.strip()) or span[:5] >= span.strip()[6:]:
                raise InvalidField("hours", f"{day}: {str(span)[:20]!r} is not a span such as 09:00-17:00")
        out[day] = [s.strip() for s in spans]
    return out


def clean(body: Mapping, rule: AutoReplyRule | None = None) -> dict:
    """The fields of a new rule (or the changed ones of ``rule``), checked."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    body = clean_strings(dict(body))  # no NUL characters or lone surrogates reach the database
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidField(unknown[0], f"unknown field; allowed: {', '.join(sorted(FIELDS))}")
    merged = {**(rule.to_dict() if rule else {"active": True, "hours": {}}), **body}
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise InvalidField("name", "give a name of 1 to 120 characters")
    try:
        trigger = RuleTrigger(merged.get("trigger"))
    except ValueError:
        raise InvalidField("trigger", f"one of {', '.join(RuleTrigger)}") from None
    match = merged.get("match")
    hours: dict = {}
    if trigger == RuleTrigger.KEYWORD:
        if not isinstance(match, str) or len(match) > MAX_KEYWORDS or not keywords(match):
            raise InvalidField("match", f"give one or more comma-separated keywords (at most {MAX_KEYWORDS} characters)")
    elif trigger == RuleTrigger.PATTERN:
        if not isinstance(match, str) or not match.strip() or len(match) > MAX_PATTERN:
            raise InvalidField("match", f"give a regular expression of at most {MAX_PATTERN} characters")
        try:
            compiled(match)
        except regex.error as exc:
            raise InvalidField("match", f"not a regular expression: {exc}") from None
    else:
        match = None
    if trigger == RuleTrigger.OUTSIDE_HOURS:
        hours = _hours(merged.get("hours"))
    text, template = merged.get("reply_text"), merged.get("template")
    if bool(text) == bool(template):
        raise InvalidField("reply_text", "give exactly one of reply_text and template")
    payload = outgoing.parse_payload({"text": text} if text else {"template": template})
    active = merged.get("active")
    if not isinstance(active, bool):
        raise InvalidField("active", "true or false")
    position = merged.get("position")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 10000):
        raise InvalidField("position", "a number from 0 to 10000")
    return dict(name=name.strip(), trigger=trigger, match=match.strip() if match else None, hours=hours,
                reply_text=payload.get("text"), template=payload.get("template"), active=active, position=position)


def create(body: Mapping) -> AutoReplyRule:
    values = clean(body)
    count = db.session.execute(select(func.count(AutoReplyRule.id))).scalar() or 0
    if count >= MAX_RULES:
        raise InvalidField("body", f"an organisation has at most {MAX_RULES} rules")
    if values["position"] is None:
        values["position"] = (db.session.execute(select(func.max(AutoReplyRule.position))).scalar() or 0) + 10
    rule = AutoReplyRule(**values)
    db.session.add(rule)
    db.session.commit()
    return rule


def update(rule_id: int, body: Mapping) -> AutoReplyRule:
    rule = get(rule_id)
    values = clean(body, rule)
    if values["position"] is None:
        values.pop("position")
    for key, value in values.items():
        setattr(rule, key, value)
    db.session.commit()
    return rule


def delete(rule_id: int) -> None:
    db.session.delete(get(rule_id))
    db.session.commit()


def move(rule_id: int, step: int) -> None:
    """Move a rule one place up (``step`` -1) or down (+1) in the order; commits."""
    rules = all_rules()
    index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
    if index is None:
        raise NotFound(f"no auto-reply rule {rule_id}")
    other = index + (1 if step > 0 else -1)
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for position, rule in enumerate(rules):
        rule.position = (position + 1) * 10
    db.session.commit()
