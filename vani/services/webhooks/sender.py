"""The HTTP side of a delivery: one POST through connections guarded against SSRF, under a hard
deadline, no redirects followed, the response read bounded."""
from __future__ import annotations

from dataclasses import dataclass

from vani.services import http
from vani.errors import InvalidField
from vani.services.webhooks.ssrf import BlockedTarget, GuardedAdapter, allow_private_var, check_url

EXCERPT = 2048  # keep this much of a response on the attempt


@dataclass
class SendResult:
    status_code: int | None
    response_body: str | None
    error: str | None
    duration_ms: int
    retry_after: str | None = None

    @property
    def success(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool,
         allow_any_port: bool = False) -> SendResult:
    """POST once. Never raises for network or receiver trouble: the result carries the error."""
    token = allow_private_var.set(allow_private)
    try:
        check_url(url, allow_private, resolve=False, allow_any_port=allow_any_port)
        reply = http.call("POST", url, timeout, http.session(GuardedAdapter), data=body, headers=headers)
    except InvalidField as exc:
        return SendResult(None, None, f"refused target: {exc.reason}", 0)
    except BlockedTarget as exc:
        return SendResult(None, None, f"refused target: {exc}", 0)
    finally:
        allow_private_var.reset(token)
    text = reply.body[:EXCERPT].decode("utf-8", errors="replace") if reply.body else None
    code, error = reply.status_code, reply.error
    if error is None and code is not None:
        if 300 <= code < 400:
            error = f"HTTP {code}: redirect to {reply.headers.get('location', '?')} not followed"
        elif not 200 <= code < 300:
            error = f"HTTP {code}"
    retry_after = reply.headers.get("retry-after") if code is not None else None
    return SendResult(code, text, error, reply.duration_ms, retry_after)


__all__ = ["BlockedTarget", "SendResult", "post"]
