"""Many POSTs in flight on one thread: aiohttp on one event loop per process, through the same
guard as every other call. What a worker's deliveries are sent with: one thread multiplexing its
connections spends a fraction of the CPU that a thread per call spends handing the interpreter
lock back and forth (see docs/performance.md).

The guard is the destination policy's (nothing trusted): a host name's addresses are resolved
and every one checked before a connection is made to one of them (pinned, the certificate still
checked against the name); an address typed in the URL, and the port, are checked before the
call. Connections are kept alive per loop and per policy, so one opened under one policy is never
reused under another. Every call is cut at its deadline, follows no redirect, is never retried,
and reads at most ``max_read`` bytes of the answer.

``post`` is a coroutine: ``submit`` runs it on the process's sending loop, a thread of its own,
and gives back a future any thread can wait on (``work.inflight`` does).
"""
from __future__ import annotations

import asyncio
import atexit
import os
import socket
import ssl
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from yarl import URL

from vani.egress.calls import MAX_READ, Reply, describe
from vani.egress.guard import BlockedTarget, check_addresses
from vani.egress.policy import Kind, Policy, literal
from vani.threads import DaemonThreads

T = TypeVar("T")
NEVER_ROUNDED = float("inf")  # aiohttp rounds timeouts of 5 s and more up to a whole second; not ours
_lookups = DaemonThreads(32, "vani-resolve")  # as many as calls in flight (VANI_SEND_CONCURRENCY's default)


class _GuardedResolver(AbstractResolver):
    """Resolves a host name and checks every address it has; a refused one refuses the name."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[dict]:
        try:  # on threads of its own: a name server that never answers holds one, not the loop's few
            infos = await asyncio.wrap_future(_lookups.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM))
        except (socket.gaierror, UnicodeError):
            raise BlockedTarget(f"{host} does not resolve") from None
        return [{"hostname": host, "host": ip, "port": port, "family": fam, "proto": 0,
                 "flags": socket.AI_NUMERICHOST} for ip, fam in check_addresses(host, infos, self.policy)]

    async def close(self) -> None:
        pass


class _Sender:
    """This process's sending loop, on a thread of its own: it reads every answer as it comes,
    whatever the threads that started the calls are doing, so each deadline is the call's own."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.sessions: dict[Policy, aiohttp.ClientSession] = {}  # touched on the loop's thread only
        threading.Thread(target=self.loop.run_forever, name="vani-sends", daemon=True).start()

    async def close_sessions(self, exiting: bool = False) -> None:
        if exiting:  # nothing left half-begun starts now
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
        sessions, self.sessions = list(self.sessions.values()), {}
        for found in sessions:
            if exiting and found.connector is not None:  # no waiting for a peer's TLS goodbye
                await found.connector.close(abort_ssl=True)
            await found.close()


_senders: dict[int, _Sender] = {}
_lock = threading.Lock()


def _sender() -> _Sender:
    pid = os.getpid()  # a forked child starts its own
    with _lock:
        found = _senders.get(pid)
        if found is None:
            found = _senders[pid] = _Sender()
            atexit.register(_stop, found)
    return found


def submit(call: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``call`` on this process's sending loop; its future, to wait on from any thread."""
    return asyncio.run_coroutine_threadsafe(call, _sender().loop)


def reset() -> None:
    """Close this process's kept-alive connections (tests; a changed configuration)."""
    found = _senders.get(os.getpid())
    if found is not None:
        submit(found.close_sessions()).result(timeout=5)


def _stop(found: _Sender) -> None:
    if found.pid != os.getpid():  # a forked child's exit: its parent's loop thread is not here
        return
    with _lock:
        if _senders.get(found.pid) is found:  # a call made after this gets a loop of its own
            del _senders[found.pid]
    try:
        asyncio.run_coroutine_threadsafe(found.close_sessions(exiting=True), found.loop).result(timeout=2)
    except Exception:  # noqa: BLE001 (exiting: what is left open, the process closes)
        pass
    found.loop.call_soon_threadsafe(found.loop.stop)


def _session(policy: Policy) -> aiohttp.ClientSession:
    sessions = _sender().sessions
    found = sessions.get(policy)
    if found is None or found.closed:
        tls = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)  # the bundle requests verifies with
        connector = aiohttp.TCPConnector(resolver=_GuardedResolver(policy), use_dns_cache=False, limit=0,
                                         ssl=tls, enable_cleanup_closed=False,
                                         timeout_ceil_threshold=NEVER_ROUNDED)
        found = sessions[policy] = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            skip_auto_headers=("Accept-Encoding",))
    return found


def _refused(url: str, policy: Policy) -> str | None:
    """What the resolver cannot see: the port, and an address typed in the URL."""
    parts = URL(url)
    if parts.scheme not in ("http", "https"):
        return "request failed: only http and https URLs are called"
    if not parts.raw_host:
        return "request failed: the URL has no host"
    host = parts.raw_host.rstrip(".")  # ``8.8.8.8.`` is the address it names
    reason = policy.port_refused(Kind.HTTP, parts.port)
    ip = literal(host)
    if reason is None and ip is not None:
        reason = policy.address_refused(host, ip)
    elif reason is None and (":" in host or host.replace(".", "").isdigit()):
        # What aiohttp would take for an address and connect to unresolved (``[…]`` that is no
        # IPv6 address, ``127.1``): refused, as no check could vouch for it.
        reason = f"{host} is not a valid IP address"
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
    limit = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0), ceil_threshold=NEVER_ROUNDED)
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
    except (aiohttp.ClientError, OSError, ValueError, TypeError) as exc:
        return done(error=late if time.monotonic() - start > timeout else _failure(exc))
    return done(code, answer_headers, answer)  # whole within the deadline, or the timeout had cut it


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
