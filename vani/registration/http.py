"""A small JSON client for provider APIs: clear errors, and 429/5xx retries that honour Retry-After.

Calls go through the egress: the API's own base (an operator setting) is a trusted origin, and a
link that points elsewhere (a ``next_page`` URL) is checked by the guard; each call has a hard
deadline."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urljoin

import requests

from vani import egress

MAX_WAIT_SECONDS = 60.0


class ApiError(Exception):
    """A provider API call failed; ``str()`` is a sentence a person can act on."""

    def __init__(self, message: str, status: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


def error_detail(response: requests.Response) -> str:
    """The provider's own words about an error, whatever its JSON shape."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    parts = []
    for key in ("title", "message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("details") or value
        if value and str(value) not in parts:
            parts.append(str(value))
    details = data.get("details")
    if isinstance(details, list):
        for item in details[:5]:
            if isinstance(item, dict):
                parts.append(": ".join(str(item[k]) for k in ("parameter", "message") if item.get(k)))
    return "; ".join(p for p in parts if p)[:500] or str(data)[:300]


def retry_after_seconds(response: requests.Response, attempt: int) -> float:
    """Seconds to wait before retrying: Retry-After (seconds or HTTP date), X-RateLimit-Reset, or backoff."""
    value = response.headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    if reset.isdigit():
        seconds = float(reset)
        return seconds if seconds < 24 * 3600 else max(0.0, seconds - time.time())
    return float(min(2 ** attempt, MAX_WAIT_SECONDS))


class ApiClient:
    """Requests to one provider API (``base``), with auth headers or query parameters."""

    def __init__(self, title: str, base: str, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None, credential_hint: str = "the API token",
                 sleep: Callable[[float], None] = time.sleep, max_retries: int = 4, timeout: float = 20.0,
                 session: requests.Session | None = None):
        self.title = title
        self.base = base.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "vani", **(headers or {})}
        self.params = params or {}
        self.credential_hint = credential_hint
        self.sleep = sleep
        self.max_retries = max_retries
        self.timeout = timeout
        self.session = session or egress.session()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base + "/", path_or_url.lstrip("/"))

    def request(self, method: str, path_or_url: str, params: dict | None = None, json: Any = None) -> Any:
        url = self.url(path_or_url)
        query = {**self.params, **(params or {})}
        for attempt in range(self.max_retries + 1):
            try:
                with egress.deadline(self.timeout):
                    response = self.session.request(method, url, params=query or None, json=json,
                                                    headers=self.headers, timeout=self.timeout)
            except egress.BlockedTarget as exc:
                raise ApiError(f"cannot reach {self.title} at {url.split('?')[0]}: refused target: {exc}") from None
            except requests.RequestException as exc:
                raise ApiError(f"cannot reach {self.title} at {self.base}: {egress.describe(exc)}") from None
            retryable = response.status_code == 429 or response.status_code >= 500
            if retryable and attempt < self.max_retries:
                wait = retry_after_seconds(response, attempt)
                if wait > MAX_WAIT_SECONDS:
                    raise self.failure(response, wait)
                self.sleep(wait)
                continue
            if response.status_code >= 400:
                raise self.failure(response, retry_after_seconds(response, attempt))
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ApiError(f"{self.title} answered {method} {url} with something that is not JSON",
                               response.status_code) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def failure(self, response: requests.Response, wait: float) -> ApiError:
        status, detail = response.status_code, error_detail(response)
        title = self.title
        if status == 401:
            message = f"{title} refused the credentials (401 Unauthorized): check {self.credential_hint}"
        elif status == 403:
            message = (f"{title} denied the request (403 Forbidden): {self.credential_hint} lacks a permission, "
                       f"or the account's plan does not include webhooks")
        elif status == 404:
            message = f"{title} has no {response.request.method} {response.url.split('?')[0]} (404 Not Found)"
        elif status in (400, 409, 422):
            message = f"{title} rejected the request ({status})"
        elif status == 429:
            message = f"{title} is rate limiting these requests (429); try again in {int(wait) + 1} s"
        else:
            message = f"{title} failed with HTTP {status}"
        if detail:
            message += f" - {detail}"
        return ApiError(message, status, detail)

    def get(self, path: str, params: dict | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any, params: dict | None = None) -> Any:
        return self.request("POST", path, params=params, json=json)

    def delete(self, path: str, params: dict | None = None) -> Any:
        return self.request("DELETE", path, params=params)
