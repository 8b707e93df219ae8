"""Phone numbers in one spelling: E.164 (``+15550100002``), via the ``phonenumbers`` library.

Linear time, capped length: text longer than ``MAX_PHONE`` characters (the library's own limit)
is not a phone number and is refused before the library reads it.
"""
from __future__ import annotations

import phonenumbers
from flask import current_app, has_app_context

MAX_PHONE = 250


def default_region() -> str | None:
    if has_app_context():
        return current_app.config.get("VANI_DEFAULT_PHONE_REGION") or None
    return None


def normalize_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 for any common spelling ("+1 555-010-0002", "whatsapp:+15550100002", "15550100002"),
    or None when it is not a phone number."""
    if not raw:
        return None
    text = str(raw).strip()
    if len(text) > MAX_PHONE:
        return None
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    region = region or default_region()
    candidates = [text]
    if not text.startswith("+") and not text.startswith("00"):
        candidates.append("+" + text)  # WhatsApp ids and Twilio WaId omit the plus
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region if candidate is text else None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
