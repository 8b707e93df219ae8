"""Auto-replies: the organisation's first matching active rule answers an inbound message.

Guards, so a replay, a late batch or a chatty customer never makes Vani say too much:
- the reply's intent key is ``auto:<inbound message id>``: reprocessing sends nothing new;
- an inbound message older than ``MAX_AGE`` gets no answer;
- at most one auto-reply per conversation per ``VANI_AUTOREPLY_COOLDOWN`` seconds.
Runs inside the inbound event's transaction (the conversation row is locked there, so two
messages arriving together see each other's reply).

An admin's pattern is capped in length (``MAX_PATTERN``) and in the copies its counted repeats
make (``MAX_REPEATS``: ``(?:a{1000}){1000}`` would fill the memory when compiled), both checked
by a linear scan before it is compiled; it looks at the first ``MAX_SCAN`` characters of a
message and is stopped after ``PATTERN_SECONDS``.
"""
from __future__ import annotations

import logging
import unicodedata
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex
from flask import current_app
from sqlalchemy import exists, select

from vani import orgs
from vani.conversations import outgoing
from vani.extensions import db
from vani.models import Conversation, Message, MessageDirection
from vani.models.base import as_utc, utcnow
from vani.models.replies import AutoReplyRule, RuleTrigger

log = logging.getLogger(__name__)

MAX_AGE = timedelta(minutes=10)
PATTERN_SECONDS = 0.02  # a pattern gets this long per message (an admin's regex must never stall a worker)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SCAN = 4096  # characters of a message a pattern looks at
MAX_PATTERN = 200  # characters of a pattern
MAX_KEYWORDS = 500  # characters of a keyword list
MAX_REPEATS = 1000  # copies of its parts a pattern's counted repeats ({n}, {m,n}) may make in all


def without_accents(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str | None) -> str:
    """Lower case without accents: "Ayúdame" → "ayudame"."""
    return without_accents(text).casefold()


def keywords(match: str | None) -> list[str]:
    return [w for w in (fold(part).strip() for part in (match or "").split(",")) if w]


def _class_end(pattern: str, i: int) -> int:
    """Where the character class opening at ``i`` ends (after its ``]``)."""
    j = i + 1
    j += pattern[j:j + 1] == "^"
    j += pattern[j:j + 1] == "]"  # a ] first is a literal
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _count(braces: str) -> int | None:
    """The larger count of ``{n}``, ``{m,}``, ``{,n}`` or ``{m,n}`` (spaces ignored), else None."""
    low, _, high = "".join(braces.split()).partition(",")
    if not all(part.isascii() and part.isdigit() for part in (low, high) if part) or not (low or high):
        return None
    return max(int(low or 0), int(high or 0)) if len(low) < 10 and len(high) < 10 else MAX_REPEATS + 1


def verbose(pattern: str) -> bool:
    """Whether the pattern turns verbose mode on (``(?x)``, ``(?ix:…)``), where spaces and ``#``
    comments no longer mean what ``repeats`` reads."""
    i = pattern.find("(?")
    while i >= 0:
        j = i + 2
        while j < len(pattern) and pattern[j] in "aibLmsuxefprwV01-^":
            j += 1
        if "x" in pattern[i + 2:j] and pattern[j:j + 1] in (")", ":"):
            return True
        i = pattern.find("(?", j)
    return False


def repeats(pattern: str) -> int:
    """How many copies of its parts ``pattern`` makes at most, nested counted repeats multiplied
    (an upper bound: alternatives are added up). One pass: each character is looked at a bounded
    number of times."""
    totals, last, i, n = [0], 0, 0, len(pattern)  # open groups' totals; the weight a count repeats
    close = opening = -1  # the next "}" and "{" at or after i (n: none left; -1: not looked for)
    while i < n:
        ch, i = pattern[i], i + 1
        if ch == "(" and pattern.startswith("?#", i):  # a comment, up to the first ")"
            i = (pattern.find(")", i) + 1) or n
            continue
        if ch == "(":
            totals.append(0)
            last = 0
            continue
        if ch == "{":
            if close < i:
                close = pattern.find("}", i) % (n + 1)
            if opening < i:
                opening = pattern.find("{", i) % (n + 1)
            times = _count(pattern[i:close]) if close < min(opening, n) else None
            if times is not None:
                totals[-1] += max(last, 1) * (times - 1) if times else 0
                last, i = max(last, 1) * times, close + 1
                if totals[-1] > MAX_REPEATS:
                    return totals[-1]
                continue
        if ch == ")" and len(totals) > 1:
            last = max(totals.pop(), 1)
        elif ch == "[":
            i, last = _class_end(pattern, i - 1), 1
        else:
            i, last = i + (ch == "\\"), 1
        totals[-1] += last
    return sum(totals)


@lru_cache(maxsize=512)
def compiled(pattern: str):
    """The pattern without accents (its case kept: ``\\W`` is not ``\\w``), matching any case, as a
    ``regex`` pattern, which can be stopped after a time. ``regex.error`` when it is too long or
    its repeats make too many copies (see ``MAX_REPEATS``)."""
    if len(pattern) > MAX_PATTERN:
        raise regex.error(f"at most {MAX_PATTERN} characters")
    if verbose(pattern):
        raise regex.error("verbose mode (x) is not supported")
    if repeats(pattern) > MAX_REPEATS:
        raise regex.error(f"its counted repeats ({{n}}) may make at most {MAX_REPEATS} copies in all")
    return regex.compile(without_accents(pattern), regex.IGNORECASE | regex.V0)


def within_hours(hours: dict, local: datetime) -> bool:
    """True when ``local`` falls in one of the day's ``"HH:MM-HH:MM"`` spans."""
    now = local.strftime("%H:%M")
    for span in hours.get(DAYS[local.weekday()]) or []:
        start, _, end = str(span).partition("-")
        if start.strip() <= now < end.strip():
            return True
    return False


def local_time(at: datetime, tz_name: str | None) -> datetime:
    try:
        return at.astimezone(ZoneInfo(tz_name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return at.astimezone(ZoneInfo("UTC"))


def matches(rule: AutoReplyRule, text: str | None, first: bool, local: datetime) -> bool:
    if rule.trigger == RuleTrigger.FIRST_MESSAGE:
        return first
    if rule.trigger == RuleTrigger.KEYWORD:
        folded = fold(text)
        return any(word in folded for word in keywords(rule.match))
    if rule.trigger == RuleTrigger.PATTERN:
        try:
            found = compiled(rule.match).search(fold((text or "")[:MAX_SCAN]), timeout=PATTERN_SECONDS)
            return bool(rule.match) and found is not None
        except regex.error:
            return False
        except TimeoutError:
            log.warning("auto-reply rule %s: its pattern took too long on a message; treated as no match", rule.id)
            return False
    if rule.trigger == RuleTrigger.OUTSIDE_HOURS:
        return not within_hours(rule.hours or {}, local)
    return False


def _cooling(conv: Conversation, now: datetime) -> bool:
    seconds = int(current_app.config.get("VANI_AUTOREPLY_COOLDOWN", 3600))
    return bool(seconds) and db.session.execute(select(exists().where(
        Message.conversation_id == conv.id, Message.origin == "auto",
        Message.created_at > now - timedelta(seconds=seconds)))).scalar()


def _first(conv: Conversation, msg: Message) -> bool:
    return not db.session.execute(select(exists().where(
        Message.conversation_id == conv.id, Message.direction == MessageDirection.INBOUND,
        Message.id != msg.id))).scalar()


def answer(conv: Conversation, msg: Message, received_at: datetime | None) -> Message | None:
    """Queue the first matching rule's reply to this new inbound message (no commit); the reply,
    or None when no rule applies or a guard holds."""
    if conv.provider not in outgoing.SENDABLE:
        return None
    now = utcnow()
    at = as_utc(msg.message_at) or as_utc(received_at) or now
    if now - at > MAX_AGE:
        return None
    rules = list(db.session.execute(select(AutoReplyRule).where(AutoReplyRule.active.is_(True))
                                    .order_by(AutoReplyRule.position, AutoReplyRule.id)).scalars())
    if not rules or _cooling(conv, now):
        return None
    first = _first(conv, msg)
    local = local_time(at, orgs.get(conv.org_id).timezone)
    for rule in rules:
        if matches(rule, msg.text, first, local):
            payload = {"template": rule.template} if rule.template else {"text": rule.reply_text}
            reply, _ = outgoing.queue_reply(conv, payload, f"auto:{msg.id}", origin="auto", rule_id=rule.id,
                                            check_window=False)
            return reply
    return None
