"""Many POSTs in flight from one thread: aiohttp on an event loop the calling thread drives,
through the same guard as every other call. What a worker's deliveries are sent with: one thread
multiplexing its connections spends a fraction of the CPU that a thread per call spends handing
the interpreter lock back and forth (see docs/performance.md).

The guard is the destination policy's (nothing trusted): a host name's addresses are resolved
and every one checked before a connection is made to one of them (pinned, the certificate still
checked against the name); an address typed in the URL, and the port, are checked before the
call. Connections are kept alive per loop and per policy, so one opened under one policy is never
reused under another. Every call is cut at its deadline, follows no redirect, is never retried,
and reads at most ``max_read`` bytes of the answer.

``post`` is a coroutine: run it on ``loop()`` (this thread's loop), as ``work.inflight`` does.
"""
from __future__ import annotations

import asyncio
import atexit
import os
import socket
import ssl
import threading
import time

import aiohttp
from aiohttp.abc import AbstractResolver
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from yarl import URL

from vani.egress.calls import MAX_READ, Reply, describe
from vani.egress.guard import BlockedTarget, check_addresses
from vani.egress.policy import Kind, Policy, literal

_local = threading.local()


class _GuardedResolver(AbstractResolver):
    """Resolves a host name and checks every address it has; a refused one refuses the name."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[dict]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise BlockedTarget(f"{host} does not resolve") from None
        return [{"hostname": host, "host": ip, "port": port, "family": fam, "proto": 0,
                 "flags": socket.AI_NUMERICHOST} for ip, fam in check_addresses(host, infos, self.policy)]

    async def close(self) -> None:
        pass


def loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop (a forked child makes its own). It runs only while its thread
    waits for calls in flight; in between, kept-alive connections wait with it."""
    found = getattr(_local, "loop", None)
    if found is None or _local.pid != os.getpid() or found.is_closed():
        found = _local.loop = asyncio.new_event_loop()
        _local.pid, _local.sessions = os.getpid(), {}
        atexit.register(_close, found, _local.sessions, os.getpid())
    return found


def _close(loop: asyncio.AbstractEventLoop, sessions: dict, pid: int) -> None:
    """Close a loop's connections (at exit, or on ``reset``), unless it is running elsewhere."""
    if pid != os.getpid() or loop.is_running() or loop.is_closed():
        return
    for found in sessions.values():
        loop.run_until_complete(found.close())
    sessions.clear()


def _session(policy: Policy) -> aiohttp.ClientSession:
    sessions = _local.sessions
    found = sessions.get(policy)
    if found is None or found.closed:
        tls = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)  # the bundle requests verifies with
        connector = aiohttp.TCPConnector(resolver=_GuardedResolver(policy), use_dns_cache=False, limit=0,
                                         ssl=tls, enable_cleanup_closed=False)
        found = sessions[policy] = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            skip_auto_headers=("Accept-Encoding",))
    return found


def reset() -> None:
    """Close this thread's kept-alive connections (tests; a changed configuration)."""
    if getattr(_local, "loop", None) is not None:
        _close(_local.loop, _local.sessions, _local.pid)


def _refused(url: str, policy: Policy) -> str | None:
    """What the resolver cannot see: the port, and an address typed in the URL."""
    parts = URL(url)
    if parts.scheme not in ("http", "https"):
        return "request failed: only http and https URLs are called"
    if not parts.host:
        return "request failed: the URL has no host"
    reason = policy.port_refused(Kind.HTTP, parts.port)
    ip = literal(parts.host)
    if reason is None and ip is not None:
        reason = policy.address_refused(parts.host, ip)
    return f"refused target: {reason}" if reason else None


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float, policy: Policy,
               max_read: int = MAX_READ) -> Reply:
    """POST ``body`` to ``url`` once, finished (or cut) within ``timeout`` seconds. Never raises
    for network or receiver trouble, nor for a refused target: the reply carries the error."""
    start = time.monotonic()

    def done(code=None, answer_headers=None, answer=b"", error=None) -> Reply:
        return Reply(code, answer_headers if answer_headers is not None else {}, answer, error,
                     int((time.monotonic() - start) * 1000))

    late = f"timed out: no complete response within {timeout:g} s"
    policy = policy.for_destination()
    try:
        refused = _refused(url, policy)
    except (ValueError, TypeError) as exc:
        return done(error=f"request failed: {describe(exc)}")
    if refused:
        return done(error=refused)
    limit = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
    try:
        async with _session(policy).post(url, data=body, headers=headers, allow_redirects=False,
                                         timeout=limit) as response:
            answer, whole = await _read(response.content, max_read)
            if not whole:
                response.close()  # cut short: the connection is not reused
            code, answer_headers = response.status, response.headers
    except BlockedTarget as exc:
        return done(error=f"refused target: {exc}")
    except asyncio.TimeoutError:
        return done(error=late)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return done(error=late if time.monotonic() - start > timeout else _failure(exc))
    return done(code, answer_headers, answer, late if time.monotonic() - start > timeout else None)


async def _read(content: aiohttp.StreamReader, max_read: int) -> tuple[bytes, bool]:
    """Up to ``max_read`` bytes of the answer, and whether that was all of it."""
    parts, size = [], 0
    while size < max_read:
        chunk = await content.read(max_read - size)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), content.at_eof()


def _failure(exc: BaseException) -> str:
    """aiohttp's failures in the words the other calls use (``describe``)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"connection failed: {describe(exc.certificate_error)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {describe(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection failed: the connection was closed before an answer"
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return "connection failed: the answer was not HTTP"
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionError)):
        return f"connection failed: {describe(exc)}"
    return f"request failed: {describe(exc)}"
