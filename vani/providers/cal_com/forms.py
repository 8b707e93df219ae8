"""Cal.com routing-form submissions (``FORM_SUBMITTED``, ``FORM_SUBMITTED_NO_EVENT``) → leads.

The body is ``{triggerEvent, createdAt, payload: {formId, formName, teamId, responses}}`` where
``responses`` maps each field's identifier (by default its label) to ``{value, response}`` (some
senders add ``label``); older senders also copy each answer beside the payload. Answers are
typed by anyone with the booking link: they are read in linear time (``coerce.is_email``).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from vani.payloads.coerce import as_dict as _dict
from vani.payloads.coerce import as_email, is_email
from vani.payloads.coerce import as_text as _str
from vani.payloads.phones import normalize_phone
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext
from vani.prospects import leads
from vani.prospects.qualification import answers_from
from vani.providers.cal_com.shapes import answer_value, utm_of

NAMES = {"name", "full name", "fullname", "your name", "your_name"}


def _key(text: Any) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text or "")).strip().lower()


def _email(value: Any) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    return as_email(text) if is_email(text) else None


def _submission_ref(p: dict, responses: dict) -> str:
    """Cal.com's response id when the payload carries one, else a digest of the form and answers."""
    for value in (p.get("responseId"), _dict(p.get("response")).get("id")):
        if isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).strip():
            return f"response:{value}"
    text = json.dumps({"formId": p.get("formId"), "responses": responses}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def submitted(body: dict, ctx: EventContext) -> Outcome:
    p = body["payload"] if isinstance(body.get("payload"), dict) else body
    responses = _dict(p.get("responses"))
    fields = []  # (key, question, answer)
    for key, r in responses.items():
        r = _dict(r)
        value = answer_value(r["value"] if "value" in r else r.get("response"))
        fields.append((_key(key), _str(r.get("label")) or key, value))
    email = name = phone = None
    for key, question, value in fields:
        label = _key(question)
        if email is None and ("email" in key or "email" in label):
            email = _email(value)
        if name is None and (key in NAMES or label in NAMES):
            name = _str(value)
        if phone is None and ("phone" in key or "phone" in label):
            phone = normalize_phone(_str(value))
    email = email or next((e for e in (_email(v) for _, _, v in fields) if e), None)
    answers = answers_from((q, v) for k, q, v in fields if not k.startswith("utm "))
    form_ref, form_name = _str(p.get("formId")), _str(p.get("formName"))
    if form_ref:
        ctx.refer(f"form:{form_ref}")
    return leads.record(ctx, _submission_ref(p, responses), answers=answers, email=email,
                        name=name[:255] if name else None, phone=phone, form_ref=form_ref, form_name=form_name,
                        utm=utm_of(p, body, responses))
