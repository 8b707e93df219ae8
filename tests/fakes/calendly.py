"""Calendly's webhook subscription API, kept in memory and served on loopback."""
from __future__ import annotations

import json
import re

from werkzeug import Response

USER_EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"]
EVENTS = USER_EVENTS + ["routing_form_submission.created"]  # routing forms: organization scope only


class FakeCalendly:
    """Calendly's webhook subscription API, as far as Vani uses it, kept in memory."""

    def __init__(self, server, admin: bool = True):
        self.server, self.admin = server, admin
        self.base = server.url_for("").rstrip("/")
        self.user = f"{self.base}/users/USER1"
        self.org = f"{self.base}/organizations/ORG1"
        self.subs: dict[str, dict] = {}
        self.counter = 0
        self.install()

    def install(self) -> None:
        """Register the API's routes on the server (again after ``server.clear()``)."""
        server = self.server
        server.expect_request("/users/me", method="GET").respond_with_json(
            {"resource": {"uri": self.user, "current_organization": self.org, "name": "Sam Host"}})
        server.expect_request("/webhook_subscriptions", method="GET").respond_with_handler(self.list)
        server.expect_request("/webhook_subscriptions", method="POST").respond_with_handler(self.create)
        server.expect_request(re.compile(r"^/webhook_subscriptions/[^/]+$"), method="DELETE") \
            .respond_with_handler(self.delete)

    def add(self, url: str, scope: str = "organization", state: str = "active", events=None) -> str:
        self.counter += 1
        uri = f"{self.base}/webhook_subscriptions/SUB{self.counter}"
        self.subs[uri] = {"uri": uri, "callback_url": url, "events": list(events or EVENTS), "scope": scope,
                          "state": state, "organization": self.org, "user": self.user if scope == "user" else None}
        return uri

    def forbidden(self, request) -> bool:
        return request.args.get("scope") == "organization" and not self.admin

    def list(self, request):
        if self.forbidden(request):
            return Response(json.dumps({"title": "Permission Denied", "message": "requires admin"}), 403,
                            content_type="application/json")
        items = [s for s in self.subs.values() if s["scope"] == request.args.get("scope")]
        return Response(json.dumps({"collection": items, "pagination": {"count": len(items), "next_page": None}}),
                        200, content_type="application/json")

    def create(self, request):
        body = request.get_json()
        if body.get("scope") == "organization" and not self.admin:
            return Response(json.dumps({"title": "Permission Denied", "message": "requires admin"}), 403,
                            content_type="application/json")
        if any(s["callback_url"] == body["url"] for s in self.subs.values()):
            return Response(json.dumps({"title": "Already Exists", "message": "Hook with this url already exists"}),
                            409, content_type="application/json")
        uri = self.add(body["url"], body["scope"], events=body["events"])
        return Response(json.dumps({"resource": self.subs[uri]}), 201, content_type="application/json")

    def delete(self, request):
        uri = f"{self.base}{request.path}"
        if self.subs.pop(uri, None) is None:
            return Response(json.dumps({"title": "Resource Not Found"}), 404, content_type="application/json")
        return Response("", 204)

    def calls(self, method: str | None = None) -> list:
        return [(r.method, r.path, dict(r.args), r.get_json(silent=True))
                for r, _ in self.server.log if method is None or r.method == method]
