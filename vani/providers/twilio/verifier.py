"""Twilio: ``X-Twilio-Signature`` checked with twilio's own ``RequestValidator`` against the URL
Twilio called. Behind a tunnel or proxy that is the public URL (``PUBLIC_URL``, or the
``X-Forwarded-*`` headers with ``VANI_TRUST_PROXY=1``), so a failure names the URL checked."""
from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl

from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm
from werkzeug.datastructures import MultiDict

from vani.plugins.contract import RequestData, SignatureError

HEADER = "X-Twilio-Signature"


def signed_params(data: RequestData):
    """What Twilio signed besides the URL: every form field (repeated names kept), or for a JSON
    body (``bodySHA256`` in the URL) the raw body text."""
    text = data.body.decode("utf-8")
    # As twilio's own validator reads it (no urlparse: the host may be junk).
    query = parse_qs(data.url.partition("?")[2].partition("#")[0], keep_blank_values=True)
    if "bodySHA256" in query and not data.form:
        return text
    return MultiDict(parse_qsl(text, keep_blank_values=True))


def verify(data: RequestData, secrets: list[str]) -> None:
    signature = (data.headers.get(HEADER) or "").strip()
    if not signature:
        raise SignatureError("missing_signature", f"the {HEADER} header is missing", checked_url=data.url)
    try:
        params = signed_params(data)
    except UnicodeDecodeError:
        raise SignatureError("invalid_signature", "the body is not UTF-8 form data", checked_url=data.url) from None
    algorithm = get_signature_algorithm(data.headers.get(SIGNATURE_SETTINGS_HEADER))
    try:
        for secret in secrets:
            if RequestValidator(secret).validate(data.url, params, signature, algorithm):
                return
    except ValueError as exc:  # a URL urllib cannot parse (bad port, broken IPv6 host from a header)
        raise SignatureError("invalid_signature", f"the URL {data.url} cannot be checked: {exc}",
                             checked_url=data.url) from None
    raise SignatureError(
        "invalid_signature",
        f"{HEADER} does not match the auth token for the URL {data.url}; Twilio signs the exact public "
        "URL it called, so behind a tunnel or proxy set PUBLIC_URL or VANI_TRUST_PROXY=1",
        checked_url=data.url)
