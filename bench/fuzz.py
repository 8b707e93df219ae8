"""Property-based fuzzing of every webhook route, every API route and every dashboard route:
generated bodies, headers and form fields (signed, or carrying a valid CSRF token, half of the
time, so the parsers, mappers and forms are reached too) must never get a 5xx. Prints the count
of answers by status and every 5xx found (the goal is 0).

Run: ``python -m bench.fuzz [--examples 10000]`` (SQLite and fakeredis, in-process). The test
suite runs a few hundred of the same examples (``tests/api/test_fuzz.py``).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from urllib.parse import quote

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SECRETS = {"CALENDLY_WEBHOOK_SIGNING_KEY": "fuzz-calendly", "CAL_COM_WEBHOOK_SECRET": "fuzz-cal",
           "KAPSO_WEBHOOK_SECRET": "fuzz-kapso", "TWILIO_AUTH_TOKEN": "fuzz-twilio", "GMAIL_PUSH_TOKEN": "fuzz-gmail"}
WEBHOOKS = {"calendly": "/api/webhooks/calendly", "cal_com": "/api/webhooks/cal-com", "kapso": "/api/webhooks/kapso",
            "twilio": "/api/webhooks/twilio", "gmail": "/api/webhooks/gmail"}
EVENT_NAMES = ["invitee.created", "invitee.canceled", "invitee_no_show.created", "BOOKING_CREATED",
               "BOOKING_CANCELLED", "BOOKING_PAID", "MEETING_ENDED", "whatsapp.message.received",
               "whatsapp.message.read", "whatsapp.conversation.ended", "routing_form_submission.created"]
ODD_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "\x00", "\ud800", "9" * 40, "1e999", "NaN", "-1", "0001-01-01T00:00:00+05:00", "whatsapp:+", "x" * 300]))

def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
              st.floats(allow_nan=False, allow_infinity=False), ODD_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(["event", "payload", "triggerEvent", "uid", "email",
                                                                "message", "conversation", "id", "status", "data",
                                                                "batch", "type", "attendees", "startTime",
                                                                "created_at", "timestamp", "kapso", "scheduled_event",
                                                                "uri", "name", "responses", "x"]), children, max_size=6)),
    max_leaves=25)


@st.composite
def provider_documents(draw):
    """A body shaped like a provider's (its envelope keys), filled with anything."""
    event = draw(st.sampled_from(EVENT_NAMES))
    inner = draw(st.dictionaries(st.sampled_from(["uri", "email", "name", "uid", "startTime", "attendees", "id",
                                                  "timestamp", "kapso", "status", "old_invitee", "scheduled_event"]),
                                 json_values, max_size=6))
    shape = draw(st.sampled_from(["calendly", "cal_com", "kapso", "gmail", "raw"]))
    if shape == "calendly":
        return {"event": event, "created_at": draw(ODD_TEXT), "payload": inner}
    if shape == "cal_com":
        return {"triggerEvent": event, "createdAt": draw(ODD_TEXT), "payload": inner}
    if shape == "kapso":
        return {"message": inner, "conversation": draw(json_values), "phone_number_id": draw(ODD_TEXT)}
    if shape == "gmail":
        data = base64.b64encode(json.dumps({"emailAddress": draw(ODD_TEXT), "historyId": draw(json_values)},
                                           default=str).encode()).decode()
        return {"message": {"messageId": draw(ODD_TEXT), "data": draw(st.sampled_from([data, "%%%", ""]))}}
    return draw(json_values)


bodies = st.one_of(
    provider_documents().map(lambda d: json.dumps(d, default=str).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.tuples(ODD_TEXT, ODD_TEXT), max_size=12).map(
        lambda pairs: "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs).encode()),
)


def sign(provider: str, body: bytes, url: str) -> dict:
    if provider == "calendly":
        t = str(int(time.time()))
        sig = hmac.new(SECRETS["CALENDLY_WEBHOOK_SIGNING_KEY"].encode(), t.encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        return {"Calendly-Webhook-Signature": f"t={t},v1={sig}"}
    if provider == "cal_com":
        return {"X-Cal-Signature-256": hmac.new(SECRETS["CAL_COM_WEBHOOK_SECRET"].encode(), body,
                                                hashlib.sha256).hexdigest()}
    if provider == "kapso":
        return {"X-Webhook-Signature": hmac.new(SECRETS["KAPSO_WEBHOOK_SECRET"].encode(), body,
                                                hashlib.sha256).hexdigest()}
    if provider == "twilio":
        from urllib.parse import parse_qsl

        from twilio.request_validator import RequestValidator
        from werkzeug.datastructures import MultiDict

        try:
            params = MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return {"X-Twilio-Signature": "x"}
        return {"X-Twilio-Signature": RequestValidator(SECRETS["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)}
    return {"Authorization": f"Bearer {SECRETS['GMAIL_PUSH_TOKEN']}"}


header_values = st.dictionaries(
    st.sampled_from(["X-Webhook-Event", "X-Idempotency-Key", "X-Webhook-Batch", "Content-Type",
                     "X-Cal-Webhook-Version", "Calendly-Webhook-Signature", "X-Forwarded-For",
                     "X-Forwarded-Host", "X-Twilio-Webhooks-Signature-Settings", "Authorization"]),
    ODD_TEXT.filter(lambda v: "\n" not in v and "\r" not in v and v.isprintable() and v.isascii()), max_size=4)


class Findings:
    def __init__(self):
        self.statuses: Counter = Counter()
        self.errors: list[str] = []

    def record(self, label: str, status: int, detail: str) -> None:
        self.statuses[status] += 1
        if status >= 500 and len(self.errors) < 20:
            self.errors.append(f"{status} {label}: {detail[:300]}")


def fuzz_webhooks(client, findings: Findings, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(provider=st.sampled_from(sorted(WEBHOOKS)), body=bodies, headers=header_values, signed=st.booleans(),
           query=st.sampled_from(["", "?bodySHA256=1", "?xbodySHA256=1", "?token=fuzz-gmail", "?a=%ff"]))
    def one(provider, body, headers, signed, query):
        url = WEBHOOKS[provider] + query
        headers = dict(headers)
        if signed:
            headers.update(sign(provider, body, "http://localhost" + url))
        content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded" if provider == "twilio"
                                   else "application/json")
        r = client.post(url, data=body, headers=headers, content_type=content_type)
        findings.record(f"POST {url}", r.status_code, repr(body[:200]))

    one()


def api_rules(app) -> list:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")]


def fuzz_api(app, client, token: str, findings: Findings, examples: int) -> None:
    rules = api_rules(app)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(rule=st.sampled_from(rules), ids=st.lists(st.one_of(st.integers(min_value=-5, max_value=2 ** 70),
                                                                st.just(1)), min_size=3, max_size=3),
           params=st.dictionaries(st.sampled_from(["limit", "cursor", "status", "provider", "type", "email",
                                                   "phone", "subscription", "event", "since", "q"]), ODD_TEXT,
                                  max_size=3),
           body=st.one_of(json_values, st.binary(max_size=100)), auth=st.sampled_from(["good", "none", "junk"]))
    def one(rule, ids, params, body, auth):
        path = rule.rule
        for arg, value in zip(sorted(rule.arguments), ids):
            path = path.replace(f"<int:{arg}>", str(value)).replace(f"<{arg}>", _quote(str(value)))
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        headers = {"Authorization": {"good": f"Bearer {token}", "none": "", "junk": "Bearer \x7f"}[auth]}
        kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
        query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params.items())
        r = client.open(f"{path}?{query}" if query else path, method=method, headers=headers, **kwargs)
        findings.record(f"{method} {rule.rule}", r.status_code, f"{path} {params} {str(body)[:150]}")

    one()


DASHBOARD_SKIPPED = {"/dashboard/stream", "/dashboard/logout"}  # an endless stream; the end of the session
FORM_FIELDS = ["email", "password", "role", "name", "slug", "timezone", "url", "events", "description", "text",
               "filter", "headers", "rate_limit", "host", "port", "user", "folders", "ssl", "routes", "slack_url",
               "email_to", "assignee_id", "pattern", "kind", "reply", "nonce", "template", "language", "q",
               "status", "provider", "since", "active", "org_id", "next", "token", "scope", "days"]


def dashboard_rules(app) -> list:
    return [rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/dashboard") and rule.rule not in DASHBOARD_SKIPPED]


def sign_in(app, client, email: str, password: str) -> str:
    """Sign ``client`` in on the login form; its CSRF token."""
    def token() -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").get_data(as_text=True))
        return found.group(1) if found else ""

    client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token()})
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/").get_data(as_text=True))
    return found.group(1) if found else ""


def fuzz_dashboard(app, client, csrf: str, findings: Findings, examples: int) -> None:
    """Every dashboard route as a signed-in admin: generated path values, query and form fields,
    with the session's CSRF token on half of the writes."""
    rules = dashboard_rules(app)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(rule=st.sampled_from(rules), ids=st.lists(st.one_of(st.integers(min_value=-5, max_value=2 ** 70),
                                                                st.just(1), ODD_TEXT), min_size=3, max_size=3),
           params=st.dictionaries(st.sampled_from(FORM_FIELDS), ODD_TEXT, max_size=3),
           form=st.dictionaries(st.sampled_from(FORM_FIELDS), ODD_TEXT, max_size=6), with_csrf=st.booleans())
    def one(rule, ids, params, form, with_csrf):
        path = rule.rule
        for arg, value in zip(sorted(rule.arguments), ids):
            value = value if "<int:" not in path or isinstance(value, int) else 1
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", _quote(str(value)) or "x", path)
        method = "POST" if "POST" in rule.methods else "GET"
        query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params.items())
        data = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in form.items()}
        if method == "POST" and with_csrf:
            data["csrf_token"] = csrf
        r = client.open(f"{path}?{query}" if query else path, method=method,
                        data=data if method == "POST" else None)
        findings.record(f"{method} {rule.rule}", r.status_code, f"{path} {params} {str(form)[:150]}")

    one()


def make_app(database_url: str | None = None):
    import fakeredis

    from vani import create_app
    from vani.extensions import db

    url = database_url or f"sqlite:///{tempfile.mkdtemp(prefix='vani-fuzz-')}/fuzz.db"
    app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REDIS_CLIENT": fakeredis.FakeRedis(),
                      **SECRETS})
    with app.app_context():
        db.create_all()
    return app


class FreshContextClient(FlaskClient):
    """A test client whose every request has its own app context, as under a real server (the
    signed-in user and the organisation in force never carry over from the caller's context)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def admin_client(app) -> tuple:
    """A test client signed in as a new admin of the organisation in force, and its CSRF token."""
    from vani import tenancy
    from vani.extensions import db
    from vani.models import Membership, User

    user = User(email="fuzz-admin@example.com", active=True)
    user.set_password("fuzz-password-1")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, org_id=tenancy.require(), role="admin"))
    db.session.commit()
    client = FreshContextClient(app, app.response_class, use_cookies=True)
    return client, sign_in(app, client, user.email, "fuzz-password-1")


def run(app, examples: int) -> Findings:
    from vani import orgs, tenancy
    from vani.accounts.tokens import create_token
    from vani.extensions import db

    findings = Findings()
    with app.app_context():
        tenancy.set_current(orgs.ensure_default().id)
        token = create_token("fuzz", ["admin"])[1]
        client = app.test_client()
        fuzz_webhooks(client, findings, examples // 3)
        fuzz_api(app, client, token, findings, examples // 3)
        fuzz_dashboard(app, *admin_client(app), findings, examples - 2 * (examples // 3))
        db.session.remove()
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10000)
    args = parser.parse_args()
    started = time.monotonic()
    findings = run(make_app(os.environ.get("FUZZ_DATABASE_URL")), args.examples)
    total = sum(findings.statuses.values())
    fives = sum(n for status, n in findings.statuses.items() if status >= 500)
    print(f"{total} requests in {time.monotonic() - started:.0f} s; answers: "
          + ", ".join(f"{status}: {n}" for status, n in sorted(findings.statuses.items())))
    print(f"5xx answers: {fives}  (goal 0)")
    for line in findings.errors:
        print("  " + line, file=sys.stderr)
    return 1 if fives else 0


if __name__ == "__main__":
    raise SystemExit(main())
