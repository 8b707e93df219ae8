"""The one way out: every connection to an address a tenant, an admin or a payload can
influence (subscriber URLs, Slack, IMAP servers, provider APIs and OAuth endpoints) is made here,
checked against the SSRF guard and, for HTTP, under a hard deadline.

``policy`` says what may be reached, ``guard`` checks targets (when saved and when connecting),
``deadline`` cuts calls in time, ``calls`` is HTTP through requests, ``aio`` deliveries' POSTs,
many in flight on one event loop (aiohttp, the same checks), ``imap`` is IMAPClient.
"""
from vani.egress.calls import (MAX_READ, GuardedAdapter, Reply, call, describe, mount, new_session,
                               oauth_session, reset_sessions, session)
from vani.egress.deadline import deadline
from vani.egress.guard import BlockedTarget, check_host, check_url, connect, resolve_checked
from vani.egress.policy import Kind, Policy, blocked_reason, current, destination, parse_allowed, using

__all__ = ["MAX_READ", "BlockedTarget", "GuardedAdapter", "Kind", "Policy", "Reply", "blocked_reason", "call",
           "check_host", "check_url", "connect", "current", "deadline", "destination", "describe", "mount", "new_session",
           "oauth_session", "parse_allowed", "reset_sessions", "resolve_checked", "session", "using"]
