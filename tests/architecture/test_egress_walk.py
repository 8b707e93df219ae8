"""One way out: no module of ``vani/`` opens a socket or an HTTP, IMAP or SMTP client except
through ``vani.egress``, save the few listed here with the reason."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vani"

# Modules allowed to connect on their own, and why. Keep this list short.
ALLOWED = {
    "vani/notifications/mail.py": "SMTP to the operator's own SMTP_URL",
    "vani/devserver/__init__.py": "the development runner binds and polls its own loopback port",
    "vani/devserver/redis_choice.py": "the development runner picks a free loopback port",
    "vani/tunnel.py": "the development runner asks ngrok's local agent API (VANI_NGROK_API_URL)",
    "vani/commands/webhooks.py": "`webhooks simulate` posts a sample to the operator's own Vani (--url)",
}

CALLS = {
    "socket.socket", "socket.create_connection", "socket.socketpair", "socket.fromfd",
    *(f"requests.{name}" for name in ("get", "post", "put", "patch", "delete", "head", "options", "request",
                                       "Session", "session", "sessions.Session")),
    "urllib3.PoolManager", "urllib3.ProxyManager", "urllib3.connection_from_url", "urllib3.request",
    "urllib3.HTTPConnectionPool", "urllib3.HTTPSConnectionPool",
    "imaplib.IMAP4", "imaplib.IMAP4_SSL", "imaplib.IMAP4_stream", "imapclient.IMAPClient",
    "imapclient.imapclient.IMAPClient", "smtplib.SMTP", "smtplib.SMTP_SSL", "smtplib.LMTP",
    "requests_oauthlib.OAuth2Session", "requests_oauthlib.OAuth1Session",
    "google.auth.transport.requests.AuthorizedSession",
}
# Library transports that are fine when handed the egress's session (``session=``/``http_client=``).
NEEDS_SESSION = {"google.auth.transport.requests.Request": "session", "twilio.rest.Client": "http_client"}
MODULES = ("urllib.request", "http.client", "httpx", "aiohttp", "pycurl", "ftplib", "telnetlib", "poplib")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def violations(source: str) -> list[str]:
    """Each way ``source`` connects without the egress, as ``line: what``."""
    tree = ast.parse(source)
    names: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
                if alias.name.startswith(MODULES):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            if node.module.startswith(MODULES) or any(f"{node.module}.{a.name}".startswith(MODULES)
                                                      for a in node.names):
                found.append(f"{node.lineno}: from {node.module} import …")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        if not dotted:
            continue
        head, _, rest = dotted.partition(".")
        full = names.get(head, head) + (f".{rest}" if rest else "")
        if full in CALLS:
            found.append(f"{node.lineno}: {full}(…)")
        elif full in NEEDS_SESSION and NEEDS_SESSION[full] not in {k.arg for k in node.keywords}:
            found.append(f"{node.lineno}: {full}(…) without {NEEDS_SESSION[full]}=")
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text()


def test_every_outbound_connection_goes_through_the_egress():
    offenders = {}
    for name, source in modules():
        if name.startswith("vani/egress/") or name in ALLOWED:
            continue
        found = violations(source)
        if found:
            offenders[name] = found
    assert offenders == {}, "connect through vani.egress (or list the module in ALLOWED, with why)"


def test_the_allowed_list_names_only_modules_that_need_it():
    sources = dict(modules())
    for name in ALLOWED:
        assert name in sources and violations(sources[name]), f"{name} no longer needs to be listed"


@pytest.mark.parametrize("source", [
    "import socket\ns = socket.socket()",
    "from socket import create_connection\ncreate_connection(('h', 1))",
    "import requests\nrequests.get('http://x')",
    "import requests as r\nr.Session()",
    "from requests import Session\nSession()",
    "from requests_oauthlib import OAuth2Session\nOAuth2Session('id')",
    "from imapclient import IMAPClient\nIMAPClient('h')",
    "import imaplib\nimaplib.IMAP4_SSL('h')",
    "import smtplib\nsmtplib.SMTP('h')",
    "import urllib.request",
    "from urllib.request import urlopen",
    "from urllib import request",
    "import http.client",
    "import httpx",
    "import urllib3\nurllib3.PoolManager()",
    "from google.auth.transport.requests import Request\nRequest()",
])
def test_the_walk_sees_each_way_out(source):
    assert violations(source)


def test_the_egress_ways_pass():
    assert violations("from vani import egress\negress.call('GET', 'http://x', 1)\negress.oauth_session('id')\n"
                      "from google.auth.transport.requests import Request\nRequest(session=egress.new_session())\n"
                      "import requests\nx: requests.Session | None = None") == []
