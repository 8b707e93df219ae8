"""The two template lists Vani reads, served on loopback (pytest-httpserver): Kapso's Meta-style
``message_templates`` and Twilio's Content API ``ContentAndApprovals``, page by page. Each fake
records every request it answered (path, query, headers) for the test to check."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from werkzeug import Response

KAPSO_KEY = "kapso-api-key"
BUSINESS_ID = "102290129340398"
KAPSO_TEMPLATES_PATH = f"/meta/whatsapp/v24.0/{BUSINESS_ID}/message_templates"
TWILIO_SID = "AC" + "0" * 32
TWILIO_FROM = "+14155238886"
TWILIO_TOKEN = "twilio-test-auth-token"  # the default organisation's TWILIO_AUTH_TOKEN in the tests
CONTENT_PATH = "/v1/ContentAndApprovals"
TWILIO_CONTENT_HOST = "https://content.twilio.com"


def use_kapso_templates(app, httpserver) -> None:
    app.config.update(KAPSO_API_BASE_URL=httpserver.url_for("").rstrip("/"), KAPSO_API_KEY=KAPSO_KEY,
                      KAPSO_BUSINESS_ACCOUNT_ID=BUSINESS_ID)


def use_twilio_templates(app, httpserver) -> None:
    app.config.update(TWILIO_CONTENT_BASE_URL=httpserver.url_for("").rstrip("/"), TWILIO_ACCOUNT_SID=TWILIO_SID,
                      TWILIO_WHATSAPP_FROM=TWILIO_FROM)


def meta_template(name: str, body: str, language: str = "en_US", status: str = "APPROVED",
                  category: str = "MARKETING", header: dict | None = None, buttons: list | None = None) -> dict:
    """One of Meta's templates as the list gives it: a plain text header unless ``header`` is
    given, and ``buttons`` when given."""
    components = [header or {"type": "HEADER", "format": "TEXT", "text": "Hello from Acme"},
                  {"type": "BODY", "text": body},
                  {"type": "FOOTER", "text": "Reply STOP to opt out"}]
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {"id": f"id-{name}-{language}", "name": name, "language": language, "status": status,
            "category": category, "parameter_format": "POSITIONAL", "components": components}


def serve_kapso_templates(httpserver, pages: list[list[dict]], business_id: str = BUSINESS_ID) -> list[dict]:
    """Answer the account's list a page at a time (``after=cursor-N`` asks for page N); returns
    the requests."""
    seen: list[dict] = []

    def answer(request):
        seen.append({"path": request.path, "args": dict(request.args), "key": request.headers.get("X-API-Key")})
        after = request.args.get("after")
        index = int(after.removeprefix("cursor-")) if after else 0
        paging: dict = {"cursors": {"before": f"before-{index}", "after": f"cursor-{index + 1}"}}
        if index + 1 < len(pages):
            paging["next"] = f"https://graph.facebook.com/v24.0/{business_id}/message_templates?after=cursor-{index + 1}"
        return Response(json.dumps({"data": pages[index], "paging": paging}), content_type="application/json")

    path = KAPSO_TEMPLATES_PATH.replace(BUSINESS_ID, business_id)
    httpserver.expect_request(path, method="GET").respond_with_handler(answer)
    return seen


def content(sid: str, name: str, types: dict, status: str = "approved", variables: dict | None = None,
            language: str = "en", category: str = "UTILITY") -> dict:
    return {"sid": sid, "account_sid": TWILIO_SID, "friendly_name": name, "language": language,
            "variables": variables or {}, "types": types, "date_created": "2025-01-10T10:00:00Z",
            "date_updated": "2025-01-10T10:00:00Z", "url": f"https://content.twilio.com/v1/Content/{sid}",
            "approval_requests": {"name": name, "category": category, "content_type": next(iter(types)),
                                  "status": status, "rejection_reason": "", "allow_category_change": True,
                                  "type": "whatsapp"}}


def serve_twilio_contents(httpserver, pages: list[list[dict]]) -> list[dict]:
    """Answer ``ContentAndApprovals`` as Twilio does, ``meta.next_page_url`` naming the next page
    (``Page=N``, ``PageToken``) on Twilio's host; returns the requests."""
    seen: list[dict] = []
    base = httpserver.url_for(CONTENT_PATH)

    def answer(request):
        seen.append({"path": request.path, "args": dict(request.args),
                     "authorization": request.headers.get("Authorization")})
        index = int(request.args.get("Page") or 0)
        size = int(request.args.get("PageSize") or 50)
        # As Twilio writes it: an absolute URL on Twilio's own host, which Vani must not follow
        # (the next page is asked of the configured host with the token).
        nxt = f"{TWILIO_CONTENT_HOST}{CONTENT_PATH}?" \
              f"{urlencode({'PageSize': size, 'Page': index + 1, 'PageToken': f'PT{index + 1}'})}" \
            if index + 1 < len(pages) else None
        meta = {"page": index, "page_size": size, "first_page_url": f"{base}?PageSize={size}&Page=0",
                "previous_page_url": None, "url": f"{base}?PageSize={size}&Page={index}", "next_page_url": nxt,
                "key": "contents"}
        return Response(json.dumps({"contents": pages[index], "meta": meta}), content_type="application/json")

    httpserver.expect_request(CONTENT_PATH, method="GET").respond_with_handler(answer)
    return seen
