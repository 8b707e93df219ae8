"""One POST to a subscriber: through the egress guard, under a hard deadline, no redirects
followed, the response read bounded, the outcome told as a ``SendResult``. ``post`` is a
coroutine: a worker keeps many in flight on its process's sending loop (``egress.aio``)."""
from __future__ import annotations

from dataclasses import dataclass

from vani import egress
from vani.egress import aio

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


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float, policy: egress.Policy) -> SendResult:
    """POST once (a coroutine for ``vani.egress.aio.submit``). Never raises for network or
    receiver trouble: the result carries the error."""
    return _result(await aio.post(url, body, headers, timeout, policy))


def _result(reply: egress.Reply) -> SendResult:
    # As text the database keeps: a NUL byte (which PostgreSQL refuses in text) shown as U+FFFD.
    text = reply.body[:EXCERPT].decode("utf-8", errors="replace").replace("\x00", "\ufffd") if reply.body else None
    code, error = reply.status_code, reply.error
    if error is None and code is not None:
        if 300 <= code < 400:
            error = f"HTTP {code}: redirect not followed"
        elif not 200 <= code < 300:
            error = f"HTTP {code}"
    retry_after = reply.headers.get("retry-after") if code is not None else None
    return SendResult(code, text, error, reply.duration_ms, retry_after)
