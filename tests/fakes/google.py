"""A fake Google on loopback (pytest-httpserver) for the Gmail tests: the OAuth token and revoke
endpoints, the Gmail API as far as Vani uses it, and the certificates that sign push tokens."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import select
from werkzeug import Response

from vani import tenancy
from vani.extensions import db
from vani.models import Mailbox, MailboxKind
from vani.models.base import utcnow

CLIENT_ID, CLIENT_SECRET = "vani-client.apps.googleusercontent.com", "google-client-secret"
PUBLIC = "https://vani.example.com"
REDIRECT = PUBLIC + "/dashboard/mailboxes/gmail/callback"
TOPIC = "projects/vani-test/topics/gmail"
ADDRESS = "sam@sales.example.com"
ME = "/gmail/v1/users/me"
WATCH_EXPIRES_MS = 1_900_000_000_000


def json_response(data, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(data), status, headers=headers or {}, content_type="application/json")


def gmail_error(status: int, message: str, reason: str) -> Response:
    return json_response({"error": {"code": status, "message": message, "errors": [{"reason": reason}]}}, status)


def message(mid: str, frm: str = "Rita Buyer <rita@buyer.test>", to: str = ADDRESS, labels=("INBOX", "UNREAD"),
            subject: str = "Pricing", thread: str | None = None) -> dict:
    """A ``users.messages.get`` answer with ``format=metadata``."""
    return {"id": mid, "threadId": thread or f"t-{mid}", "labelIds": list(labels), "snippet": f"About {subject}",
            "historyId": "900", "internalDate": "1767225600000", "sizeEstimate": 2048,
            "payload": {"mimeType": "multipart/alternative", "headers": [
                {"name": "From", "value": frm}, {"name": "To", "value": to},
                {"name": "Cc", "value": "Lee <lee@buyer.test>, other@buyer.test"},
                {"name": "Subject", "value": subject}, {"name": "Date", "value": "Thu, 1 Jan 2026 09:30:00 +0100"},
                {"name": "Message-ID", "value": f"<{mid}@mail.buyer.test>"}]}}


def push(address: str, history_id: int, message_id: str) -> bytes:
    """A Pub/Sub push body for a mailbox change."""
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": history_id}).encode()).decode()
    return json.dumps({"message": {"data": data, "messageId": message_id, "publishTime": "2026-01-01T08:30:00Z"},
                       "subscription": "projects/vani-test/subscriptions/vani"}).encode()


class FakeGoogle:
    """Google's OAuth endpoints and the Gmail API of one mailbox. ``history`` maps
    ``(startHistoryId, pageToken)`` to a page; a start below ``oldest_history`` answers 404.
    ``fail`` queues answers per "METHOD /path" to give before the normal one."""

    def __init__(self, server):
        self.server = server
        self.base = server.url_for("").rstrip("/")
        self.challenge: str | None = None
        self.issued = 0
        self.live_access: set[str] = set()
        self.live_refresh: set[str] = set()
        self.history_id = "1000"
        self.oldest_history = 0
        self.history: dict[tuple[str, str | None], dict] = {}
        self.listing: dict[str | None, dict] = {}
        self.messages: dict[str, dict] = {}
        self.certs: dict[str, str] = {}
        self.fail: dict[str, list[Response]] = {}
        server.expect_request("/token", method="POST").respond_with_handler(self.token)
        server.expect_request("/revoke", method="POST").respond_with_handler(self.revoke)
        server.expect_request("/oauth2/v1/certs", method="GET").respond_with_handler(
            lambda r: self.failure(r) or json_response(self.certs, headers={"Cache-Control": "public, max-age=3600"}))
        server.expect_request(re.compile(r"^/gmail/v1/users/me/.*")).respond_with_handler(self.gmail)

    # -- helpers for tests ------------------------------------------------------------------------
    def requests(self, method: str, path: str) -> list:
        return [r for r, _ in self.server.log if r.method == method and r.path == path]

    def queue(self, key: str, response: Response) -> None:
        self.fail.setdefault(key, []).append(response)

    def grant(self) -> tuple[str, str]:
        """Tokens as if a sign-in had just happened: (access, refresh)."""
        self.issued += 1
        access, refresh = f"ya29.at-{self.issued}", f"1//rt-{self.issued}"
        self.live_access.add(access)
        self.live_refresh.add(refresh)
        return access, refresh

    # -- the endpoints --------------------------------------------------------------------------
    def failure(self, request):
        queued = self.fail.get(f"{request.method} {request.path}")
        return queued.pop(0) if queued else None

    def token(self, request):
        if (queued := self.failure(request)) is not None:
            return queued
        form = request.form.to_dict()
        if request.headers.get("Authorization") or (form.get("client_id"), form.get("client_secret")) != (
                CLIENT_ID, CLIENT_SECRET):
            return json_response({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        if form.get("grant_type") == "authorization_code":
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if form.get("code") != "the-code" or challenge != self.challenge:
                return json_response({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
            access, refresh = self.grant()
            return json_response({"access_token": access, "refresh_token": refresh, "expires_in": 3599,
                                  "scope": "https://www.googleapis.com/auth/gmail.readonly", "token_type": "Bearer"})
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self.live_refresh:
            self.issued += 1
            access = f"ya29.at-{self.issued}"
            self.live_access.add(access)
            return json_response({"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                                  "scope": "https://www.googleapis.com/auth/gmail.readonly"})
        return json_response({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400)

    def revoke(self, request):
        if (queued := self.failure(request)) is not None:
            return queued
        token = request.form.get("token")
        if token not in self.live_refresh and token not in self.live_access:
            return json_response({"error": "invalid_token", "error_description": "Token expired or revoked"}, 400)
        self.live_refresh.discard(token)  # revoking either token ends the grant
        self.live_access.clear()
        return Response("", 200)

    def gmail(self, request):
        if (queued := self.failure(request)) is not None:
            return queued
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.live_access:
            return gmail_error(401, "Request had invalid authentication credentials.", "authError")
        path, args = request.path.removeprefix(ME), request.args
        if (request.method, path) == ("GET", "/profile"):
            return json_response({"emailAddress": ADDRESS, "messagesTotal": 10, "threadsTotal": 8,
                                  "historyId": self.history_id})
        if (request.method, path) == ("POST", "/watch"):
            return json_response({"historyId": self.history_id, "expiration": str(WATCH_EXPIRES_MS)})
        if (request.method, path) == ("POST", "/stop"):
            return Response("", 204)
        if (request.method, path) == ("GET", "/history"):
            if int(args["startHistoryId"]) < self.oldest_history:
                return gmail_error(404, "Requested entity was not found.", "notFound")
            return json_response(self.history.get((args["startHistoryId"], args.get("pageToken")),
                                                  {"historyId": self.history_id}))
        if (request.method, path) == ("GET", "/messages"):
            return json_response(self.listing.get(args.get("pageToken"), {"resultSizeEstimate": 0}))
        found = re.fullmatch(r"/messages/([^/]+)", path)
        if request.method == "GET" and found and found.group(1) in self.messages:
            return json_response(self.messages[found.group(1)])
        return gmail_error(404, "Requested entity was not found.", "notFound")


def fake_google(app, httpserver, monkeypatch) -> Iterator[FakeGoogle]:
    """The body of each test module's ``google`` fixture: the fake, and the settings pointing at it."""
    from vani.providers.gmail import oidc

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain HTTP on loopback
    base = httpserver.url_for("").rstrip("/")
    app.config.update(GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET, PUBLIC_URL=PUBLIC,
                      GOOGLE_AUTH_URL=base + "/o/oauth2/v2/auth", GOOGLE_TOKEN_URL=base + "/token",
                      GOOGLE_REVOKE_URL=base + "/revoke", GOOGLE_CERTS_URL=base + "/oauth2/v1/certs",
                      GMAIL_API_BASE_URL=base, GMAIL_PUBSUB_TOPIC=TOPIC, VANI_MAIL_TIMEOUT_SECONDS=5)
    oidc.forget_certificates()
    yield FakeGoogle(httpserver)
    oidc.forget_certificates()


def add_mailbox(google: FakeGoogle, history_id: str | None = "500", expires_in: timedelta = timedelta(hours=1),
                address: str = ADDRESS) -> Mailbox:
    """A Gmail mailbox of the organisation in force, connected with fresh tokens from the fake."""
    access, refresh = google.grant()
    mailbox = Mailbox(kind=MailboxKind.GMAIL, address=address, access_token=access, refresh_token=refresh,
                      token_expires_at=utcnow() + expires_in, history_id=history_id)
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def mailbox_now(org_id: int | None = None) -> Mailbox | None:
    """The organisation's (in force unless given) Gmail mailbox, read afresh."""
    db.session.expire_all()
    with tenancy.acting_for(org_id or tenancy.require()):
        return db.session.execute(select(Mailbox).where(Mailbox.kind == MailboxKind.GMAIL)).scalar_one_or_none()
