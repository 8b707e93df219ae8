"""Outbound HTTP: requests sessions whose every connection goes through the guard and under the
call's deadline, and ``call``, one request finished (or cut) in time.

Failures are told in Vani's words (``describe``): a status and a short reason, never the bytes
a peer sent, so a page or a log cannot be used to read what answers at an address.
"""
from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from dataclasses import dataclass

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from vani.egress.deadline import deadline, watch
from vani.egress.guard import BlockedTarget, checked
from vani.egress.policy import Kind, Policy, current, using

MAX_READ = 64 * 1024  # read at most this much of a response (more drops the connection)


class _Guarded:
    """Connection mixin: resolve, check, connect to the checked address (pinned; TLS still
    verifies the certificate against the host name), the socket cut when the deadline passes.
    ``checked_under`` is the policy the open socket was checked for."""

    scheme = "http"
    checked_under: Policy | None = None

    def _new_conn(self):  # type: ignore[override]
        host, policy = self._dns_host, current()
        addresses = checked(host, self.port, Kind.HTTP, self.scheme, policy)
        self.checked_under = policy
        if addresses:
            self._dns_host = addresses[0]
        try:
            sock = super()._new_conn()
        finally:
            self._dns_host = host
        watch(sock)
        return sock

    def request(self, *args, **kwargs):  # type: ignore[override]
        if getattr(self, "sock", None) is not None:
            watch(self.sock)  # a kept-alive connection, connected under an earlier deadline
        return super().request(*args, **kwargs)


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    scheme = "http"


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    scheme = "https"


class _PolicyPool:
    """Pool mixin: a kept-alive connection is handed out only under the policy it was checked
    for. One opened for a provider API call (its origin trusted) is closed, not reused, when a
    destination a tenant chose (nothing trusted) asks for the same origin: it connects again,
    through the check."""

    def _get_conn(self, timeout=None):  # type: ignore[override]
        conn = super()._get_conn(timeout)
        if getattr(conn, "sock", None) is not None and getattr(conn, "checked_under", None) != current():
            conn.close()  # the pool connects it again (``_new_conn``) before the request
        return conn


class GuardedAdapter(HTTPAdapter):
    """Connections that check (and pin) every address they connect to, under the call's deadline,
    and are reused only under the policy they were checked for."""

    pool_classes = {"http": type("GuardedHTTPConnectionPool", (_PolicyPool, HTTPConnectionPool),
                                 {"ConnectionCls": GuardedHTTPConnection}),
                    "https": type("GuardedHTTPSConnectionPool", (_PolicyPool, HTTPSConnectionPool),
                                  {"ConnectionCls": GuardedHTTPSConnection})}

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pool_classes)


def mount(s: requests.Session, pool: int = 10) -> requests.Session:
    """``s`` (a requests session, or a subclass such as an OAuth session) going out through the
    guard only: no proxies or netrc from the environment, no retries."""
    s.trust_env = False
    adapter = GuardedAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def new_session() -> requests.Session:
    """A session of its own (for a library that keeps one), going out through the guard."""
    return mount(requests.Session())


def oauth_session(*args, **kwargs):
    """requests-oauthlib's ``OAuth2Session``, going out through the guard."""
    from requests_oauthlib import OAuth2Session

    return mount(OAuth2Session(*args, **kwargs))


_sessions: dict[int, requests.Session] = {}


def session() -> requests.Session:
    """This process's keep-alive session through the guard, shared by its send threads (its
    pools keep a connection per send in flight: ``VANI_SEND_CONCURRENCY``). It keeps no cookie:
    a receiver's cookie is neither sent to another tenant's receiver nor read while threads write."""
    found = _sessions.get(os.getpid())
    if found is None:
        found = _sessions[os.getpid()] = mount(requests.Session(), _pool_size())
        found.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no cookie kept, none shared
    return found


def _pool_size() -> int:
    sends = current_app.config.get("VANI_SEND_CONCURRENCY") if has_app_context() else None
    return max(16, int(sends or 32))


def reset_sessions() -> None:
    for s in _sessions.values():
        s.close()
    _sessions.clear()


@dataclass
class Reply:
    status_code: int | None
    headers: Mapping  # case-insensitive when it came from a response
    body: bytes
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(method: str, url: str, timeout: float, http: requests.Session | None = None,
         policy: Policy | None = None, max_read: int = MAX_READ, **kwargs) -> Reply:
    """One request, finished (or cut) within ``timeout`` seconds, through the guard (``policy``:
    the one in force unless given). Never raises for network or receiver trouble, nor for a
    refused target: the reply carries the error. Redirects are never followed. At most
    ``max_read`` bytes of the answer are read (a list that may be long asks for more)."""
    start = time.monotonic()
    http = http or session()

    def done(code=None, headers=None, body=b"", error=None) -> Reply:
        return Reply(code, headers if headers is not None else {}, body, error,
                     int((time.monotonic() - start) * 1000))

    late = f"timed out: no complete response within {timeout:g} s"
    with using(policy), deadline(timeout) as budget:
        try:
            response = http.request(method, url, timeout=(min(timeout, 10.0), timeout), allow_redirects=False,
                                    stream=True, **kwargs)
        except BlockedTarget as exc:
            return done(error=f"refused target: {exc}")
        except requests.Timeout:
            return done(error=late)
        except requests.RequestException as exc:
            return done(error=late if budget.expired else f"{_kind(exc)}: {describe(exc)}")
        chunks, size, error = [], 0, None
        try:
            for chunk in response.iter_content(16 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_read:
                    break
        except (requests.RequestException, OSError) as exc:
            error = late if budget.expired else f"reading the response failed: {describe(exc)}"
        finally:
            response.close()
        if error is None and (budget.expired or budget.remaining < 0):
            error = late
        return done(response.status_code, response.headers, b"".join(chunks), error)


def _kind(exc: Exception) -> str:
    return "connection failed" if isinstance(exc, requests.ConnectionError) else "request failed"


def _chain(exc: BaseException):
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        reason = getattr(e, "reason", None)  # urllib3's wrapped error (an SSL error's is a string)
        todo += [e.__cause__, e.__context__, reason if isinstance(reason, BaseException) else None]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def describe(exc: BaseException) -> str:
    """A failed connection or request in a few words of Vani's own (what went wrong, never what
    the peer said)."""
    for e in _chain(exc):
        if isinstance(e, BlockedTarget):
            return f"refused target: {e}"
        if isinstance(e, ssl.SSLCertVerificationError):  # however deep: the most telling
            return f"the TLS certificate was not accepted ({e.verify_message or 'not trusted'})"
    for e in _chain(exc):
        if isinstance(e, (TimeoutError, socket.timeout, requests.Timeout)):
            return "timed out"
        if isinstance(e, (NameResolutionError, socket.gaierror)):
            return "the host name does not resolve"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"the TLS certificate was not accepted ({e.verify_message or 'not trusted'})"
        if isinstance(e, (ssl.SSLError, requests.exceptions.SSLError)):
            return "the TLS handshake failed"
        if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError)):
            return "the connection was closed before an answer"
        if isinstance(e, http.client.HTTPException):
            return "the answer was not HTTP"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, OSError) and e.errno is not None and e.strerror:
            return e.strerror.lower()
    return f"the request could not be made ({type(exc).__name__})"
