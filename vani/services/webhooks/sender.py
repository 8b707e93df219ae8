"""The HTTP side of a delivery: one keep-alive ``requests.Session`` per worker process,
connections guarded against SSRF, no redirects followed, bounded response reads."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from vani.services.webhooks.errors import InvalidField
from vani.services.webhooks.ssrf import GUARDED_POOL_CLASSES, BlockedTarget, allow_private_var, check_url

MAX_READ = 64 * 1024  # read at most this much of a response (more drops the connection)
EXCERPT = 2048  # keep this much of it on the attempt


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


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connection pools check (and pin) every address they connect to."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(GUARDED_POOL_CLASSES)


_session: requests.Session | None = None
_session_pid: int | None = None


def get_session() -> requests.Session:
    """This process's session (a forked worker makes its own)."""
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc from the environment
        adapter = GuardedAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _session, _session_pid = session, os.getpid()
    return _session


def reset_session() -> None:
    global _session
    if _session is not None:
        _session.close()
    _session = None


def _read(response: requests.Response, deadline: float) -> tuple[bytes, bool]:
    """Up to MAX_READ bytes of the body; True as second value if the deadline passed."""
    chunks, size = [], 0
    for chunk in response.iter_content(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_READ:
            break
        if time.monotonic() > deadline:
            return b"".join(chunks), True
    return b"".join(chunks), False


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> SendResult:
    """POST once. Never raises for network or receiver trouble: the result carries the error."""
    start = time.monotonic()
    token = allow_private_var.set(allow_private)

    def done(code=None, text=None, error=None, retry_after=None) -> SendResult:
        return SendResult(code, text, error, int((time.monotonic() - start) * 1000), retry_after)

    try:
        check_url(url, allow_private, resolve=False)
        response = get_session().post(url, data=body, headers=headers, timeout=(min(timeout, 10.0), timeout),
                                      allow_redirects=False, stream=True)
        try:
            raw, late = _read(response, start + timeout)
        finally:
            response.close()
        text = raw[:EXCERPT].decode("utf-8", errors="replace") if raw else None
        code = response.status_code
        if late or time.monotonic() - start > timeout:
            return done(code, text, f"timed out: no complete response within {timeout:g} s")
        if 300 <= code < 400:
            where = response.headers.get("location", "?")
            return done(code, text, f"HTTP {code}: redirect to {where} not followed")
        if not 200 <= code < 300:
            return done(code, text, f"HTTP {code}", response.headers.get("retry-after"))
        return done(code, text)
    except InvalidField as exc:
        return done(error=f"refused target: {exc.reason}")
    except BlockedTarget as exc:
        return done(error=f"refused target: {exc}")
    except requests.Timeout:
        return done(error=f"timed out after {timeout:g} s")
    except requests.ConnectionError as exc:
        return done(error=f"connection failed: {_short(exc)}")
    except requests.RequestException as exc:
        return done(error=f"request failed: {_short(exc)}")
    finally:
        allow_private_var.reset(token)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"
