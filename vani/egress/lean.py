"""A POST of ready bytes straight through the guarded connection pools: what every outbound
delivery makes, at about half the CPU of ``call`` (no requests session, prepared request or
response objects around urllib3). The guard is the same one: the pools are the shared session's
(``calls.session``), whose connections resolve, check and pin every address and are reused only
under the policy they were checked for. The same deadline cuts the call, redirects are not
followed, nothing is retried, and the answer is read up to ``max_read`` bytes."""
from __future__ import annotations

import time

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_auth_from_url
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import make_headers, parse_url

from vani.egress.calls import MAX_READ, Reply, describe, session
from vani.egress.deadline import deadline
from vani.egress.guard import BlockedTarget
from vani.egress.policy import Policy, using

# Certificates verified against the same bundle as every requests call (certifi's).
TLS = {"cert_reqs": "CERT_REQUIRED", "ca_certs": DEFAULT_CA_BUNDLE_PATH}


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, policy: Policy | None = None,
         max_read: int = MAX_READ) -> Reply:
    """POST ``body`` to ``url`` once, finished (or cut) within ``timeout`` seconds. Never raises
    for network or receiver trouble, nor for a refused target: the reply carries the error."""
    start = time.monotonic()

    def done(code=None, answer_headers=None, answer=b"", error=None) -> Reply:
        return Reply(code, answer_headers if answer_headers is not None else {}, answer, error,
                     int((time.monotonic() - start) * 1000))

    try:
        target = parse_url(url)
    except ValueError as exc:
        return done(error=f"request failed: {describe(exc)}")
    if target.scheme not in ("http", "https"):
        return done(error="request failed: only http and https URLs are called")
    late = f"timed out: no complete response within {timeout:g} s"
    pools = session().get_adapter(url).poolmanager
    with using(policy), deadline(timeout) as budget:
        try:
            if target.auth:  # user:password@ in the URL: sent as Basic credentials, as requests does
                user, password = get_auth_from_url(url)
                headers = {**headers, **make_headers(basic_auth=f"{user}:{password}")}
            pool = pools.connection_from_host(target.host, target.port, target.scheme,
                                              pool_kwargs=TLS if target.scheme == "https" else None)
            # The request line names the path only (origin-form), as a browser's or requests' does.
            response = pool.urlopen("POST", target.request_uri, body=body, headers=headers, redirect=False,
                                     retries=False,
                                     preload_content=False,
                                     timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout))
        except BlockedTarget as exc:
            return done(error=f"refused target: {exc}")
        except (HTTPError, OSError, ValueError) as exc:
            # urllib3's NewConnectionError is a kind of ConnectTimeoutError: a refusal, not a timeout.
            if isinstance(exc, Urllib3Timeout) and not isinstance(exc, NewConnectionError):
                return done(error=late)
            kind = "connection failed" if isinstance(exc, (NewConnectionError, ProtocolError, ConnectionError)) \
                else "request failed"
            return done(error=late if budget.expired else f"{kind}: {describe(exc)}")
        answer, error = b"", None
        try:
            answer = response.read(max_read)
        except (HTTPError, OSError) as exc:
            answer, error = b"", late if budget.expired else f"reading the response failed: {describe(exc)}"
        finally:
            if error is None and len(answer) < max_read:
                response.release_conn()  # read whole: the connection goes back to the pool
            else:
                response.close()  # cut short: the connection is not reused
        if error is None and (budget.expired or budget.remaining < 0):
            error = late
        return done(response.status, response.headers, answer, error)
