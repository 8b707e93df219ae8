"""Bundled sample webhook bodies, one per event Vani handles, and how each provider signs them.

Files are ``<provider>/<event>.json`` (or ``.txt`` for form-encoded bodies). ``flask vani webhooks
simulate`` sends them, signed like the provider would, to check the whole path before touching
the provider's settings.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass
class Sample:
    provider: str
    event: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def events(provider_name: str) -> list[str]:
    folder = SAMPLES_DIR / provider_name
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix in (".json", ".txt"))


def load(provider_name: str, event: str) -> Sample:
    """The sample for ``event`` (matched without regard to case, ``-``/``_``); KeyError if none."""
    wanted = event.strip().lower().replace("-", "_")
    for name in events(provider_name):
        if name.lower().replace("-", "_") == wanted:
            path = next(p for p in (SAMPLES_DIR / provider_name).iterdir() if p.stem == name)
            form = path.suffix == ".txt"
            sample = Sample(provider_name, name, path.read_bytes().strip(),
                            "application/x-www-form-urlencoded" if form else "application/json")
            if provider_name == "kapso":  # Kapso names the event in a header, and Vani refuses stale bodies
                sample.headers["X-Webhook-Event"] = name
                sample.body = freshen(sample.body)
            return sample
    raise KeyError(event)


TIME_KEYS = {"timestamp", "created_at", "updated_at", "last_active_at", "last_message_timestamp", "occurred_at"}


def freshen(body: bytes) -> bytes:
    """The body with its times set to now (unix seconds where it had them, ISO 8601 elsewhere)."""
    now = time.time()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in TIME_KEYS and isinstance(item, str):
                    value[key] = str(int(now)) if item.isdigit() else time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime(now))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        return value

    return json.dumps(walk(json.loads(body)), indent=2).encode()


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_calendly(sample: Sample, secret: str, url: str) -> dict[str, str]:
    t = str(int(time.time()))
    return {"Calendly-Webhook-Signature": f"t={t},v1={_hex(secret, t.encode() + b'.' + sample.body)}"}


def sign_cal_com(sample: Sample, secret: str, url: str) -> dict[str, str]:
    return {"X-Cal-Signature-256": _hex(secret, sample.body)}


def sign_kapso(sample: Sample, secret: str, url: str) -> dict[str, str]:
    return {"X-Webhook-Signature": _hex(secret, sample.body)}


def sign_twilio(sample: Sample, secret: str, url: str) -> dict[str, str]:
    """Twilio: base64 HMAC-SHA1 of the full URL followed by the sorted form fields and values."""
    params = dict(parse_qsl(sample.body.decode(), keep_blank_values=True))
    message = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return {"X-Twilio-Signature": base64.b64encode(digest).decode()}


SIGNERS = {"calendly": sign_calendly, "cal_com": sign_cal_com, "kapso": sign_kapso, "twilio": sign_twilio}


def request_headers(sample: Sample, secret: str | None, url: str) -> dict[str, str]:
    """Everything to send with ``sample`` to ``url``: content type, event headers, the signature."""
    headers = {"Content-Type": sample.content_type, "User-Agent": "vani-simulate", **sample.headers}
    if secret:
        signer = SIGNERS.get(sample.provider)
        if signer is None:
            raise KeyError(f"Vani cannot sign {sample.provider} calls")
        headers.update(signer(sample, secret, url))
    return headers
