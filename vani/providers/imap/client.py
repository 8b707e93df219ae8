"""Talking to an IMAP server: the mailbox the settings describe, a logged-in session whose
failures become ``SyncError``, and decoding what the server answers (headers, addresses, snippets).

The connection goes out through the egress guard (``vani.egress.imap``). Failures are told in
Vani's words: what went wrong, with at most a standard response code such as ``[UNAVAILABLE]``,
never the text a server sent (a host that is not an IMAP server must not show its banner).
"""
from __future__ import annotations

import base64
import binascii
import html
import imaplib
import quopri
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from email.header import decode_header, make_header

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from vani import egress
from vani.egress.imap import IMAPClient as GuardedIMAPClient
from vani.mail import mailboxes
from vani.mail.mailboxes import SyncError
from vani.models import Mailbox, MailboxKind
from vani.payloads.safejson import clean_text

NETWORK = (OSError, EOFError, imaplib.IMAP4.abort)  # refused, reset, timed out, TLS, dropped
PASSING = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]")  # a refused login worth retrying
SNIPPET_CHARS = 200


# --- the mailbox from the settings --------------------------------------------------------

def settings_form(cfg: Mapping) -> dict | None:
    """``IMAP_HOST``/``IMAP_USER``/``IMAP_PASSWORD`` (with port, SSL and folders) as the fields
    ``mailboxes.add_imap`` takes; None when they are not all set."""
    if not (cfg.get("IMAP_HOST") and cfg.get("IMAP_USER") and cfg.get("IMAP_PASSWORD")):
        return None
    return {"host": cfg["IMAP_HOST"], "port": cfg.get("IMAP_PORT") or 993, "user": cfg["IMAP_USER"],
            "password": cfg["IMAP_PASSWORD"], "ssl": "1" if cfg.get("IMAP_SSL", True) else "0",
            "folders": cfg.get("IMAP_FOLDERS") or "INBOX,Sent"}


def ensure_settings_mailbox(cfg: Mapping) -> Mailbox | None:
    """Make sure the organisation in force has the mailbox the settings describe (added, or
    updated when a setting changed; left alone otherwise). Raises InvalidField."""
    form = settings_form(cfg)
    if form is None:
        return None
    found = mailboxes.by_address(MailboxKind.IMAP, form["user"])
    if found is not None and (found.imap_host, found.imap_port, found.imap_user, found.imap_ssl, found.folders,
                              found.imap_password) == (form["host"], int(form["port"]), form["user"],
                                                       form["ssl"] == "1", mailboxes.folders_from(form["folders"]),
                                                       form["password"]):
        return found
    return mailboxes.add_imap(form)


# --- a session ----------------------------------------------------------------------------

def describe(exc: BaseException) -> str:
    """A failed connection in a few words of Vani's own (never what the server sent)."""
    if isinstance(exc, egress.BlockedTarget):
        return f"refused target: {exc}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate was not accepted ({exc.verify_message or 'not trusted'})"
    if isinstance(exc, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, (imaplib.IMAP4.abort, EOFError, ConnectionResetError, ConnectionAbortedError)):
        return "the connection was dropped or the server answered out of protocol"
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def response_code(exc: BaseException) -> str | None:
    """The standard response code (RFC 5530) a server put in its refusal, like ``[UNAVAILABLE]``."""
    text = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    found = re.search(r"\[([A-Z][A-Z-]{1,30})\]", str(text))
    return f"[{found.group(1)}]" if found else None


def _server_said(exc: BaseException) -> str:
    code = response_code(exc)
    return f" ({code})" if code else ""


@contextmanager
def session(mailbox: Mailbox, cfg: Mapping) -> Iterator[IMAPClient]:
    """A client logged in to ``mailbox``'s server, logged out after. A refused login raises
    ``SyncError(reconnect=True)``; network trouble, timeouts and server errors ``SyncError``."""
    where = f"{mailbox.imap_host}:{mailbox.imap_port}"
    timeout = float(max(int(cfg.get("VANI_MAIL_TIMEOUT_SECONDS", 30)), 1))
    try:
        client = GuardedIMAPClient(mailbox.imap_host, port=mailbox.imap_port, ssl=bool(mailbox.imap_ssl),
                                   timeout=SocketTimeout(connect=timeout, read=timeout))
    except egress.BlockedTarget as exc:
        raise SyncError(f"could not connect to {where}: refused target: {exc}") from None
    except (imaplib.IMAP4.abort, EOFError):
        raise SyncError(f"{where} did not greet as an IMAP server") from None
    except NETWORK as exc:
        raise SyncError(f"could not connect to {where}: {describe(exc)}") from None
    except IMAPClientError:
        raise SyncError(f"{where} did not greet as an IMAP server") from None
    client.normalise_times = False  # keep the servers' time zones; stored as UTC
    try:
        _login(client, mailbox, where)
        yield client
    except SyncError:
        raise
    except NETWORK as exc:
        raise SyncError(f"the connection to {where} failed: {describe(exc)}") from None
    except IMAPClientError as exc:
        raise SyncError(f"{where} refused a command{_server_said(exc)}") from None
    finally:
        _logout(client)


def _login(client: IMAPClient, mailbox: Mailbox, where: str) -> None:
    capabilities = client.capabilities()
    if not mailbox.imap_ssl and b"LOGINDISABLED" in capabilities and b"STARTTLS" in capabilities:
        client.starttls()  # the server takes no password in the clear
    try:
        client.login(mailbox.imap_user, mailbox.imap_password or "")
    except LoginError as exc:
        code = response_code(exc)
        if code in PASSING:
            raise SyncError(f"{where} could not log in right now {code}") from None
        raise SyncError(f"{where} refused the user name or password{_server_said(exc)}", reconnect=True) from None


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone
        try:
            client.shutdown()
        except Exception:
            pass


# --- decoding answers ---------------------------------------------------------------------

def decoded(value, limit: int = 1000) -> str | None:
    """A header value as text: RFC 2047 words decoded, bad bytes replaced, NULs dropped."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    value = str(value)
    if "=?" in value:
        try:
            value = str(make_header(decode_header(value)))
        except Exception:  # an unknown charset or a broken encoded word: keep it as it came
            pass
    value = " ".join(clean_text(value).split())
    return value[:limit] or None


def addresses(items) -> list[tuple[str, str | None]]:
    """``(address, name)`` of an envelope's address list (group markers left out)."""
    out = []
    for item in items or ():
        mailbox, host = decoded(getattr(item, "mailbox", None), 200), decoded(getattr(item, "host", None), 255)
        if mailbox and host:
            out.append((f"{mailbox}@{host}".lower()[:320], decoded(item.name, 255)))
    return out


def as_utc(value) -> datetime | None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # "Fri, 31 Dec 9999 23:59 -0100" and other impossible dates
        return None


def first_text_part(body, prefix: str = "") -> tuple[str, bool, bytes, str] | None:
    """Of a BODYSTRUCTURE, the first readable text part: ``(section, is_html, encoding,
    charset)``, plain text preferred; attachments and attached messages are skipped."""
    parts = list(_text_parts(body, prefix))
    plain = [p for p in parts if not p[1]]
    return (plain or parts or [None])[0]


def _text_parts(body, prefix: str):
    if body and isinstance(body[0], list):  # multipart: (parts, subtype, ...)
        for i, part in enumerate(body[0], 1):
            yield from _text_parts(part, f"{prefix}{i}.")
        return
    if len(body) < 7 or (body[0] or b"").lower() != b"text" or (body[1] or b"").lower() not in (b"plain", b"html"):
        return
    disposition = body[8] if len(body) > 8 and isinstance(body[8], tuple) else None
    if disposition and (disposition[0] or b"").lower() == b"attachment":
        return
    params = body[2] if isinstance(body[2], tuple) else ()
    charset = next((decoded(v, 40) for k, v in zip(params[::2], params[1::2])
                    if isinstance(k, bytes) and k.lower() == b"charset"), None)
    yield (prefix.rstrip(".") or "1", body[1].lower() == b"html", (body[5] or b"").lower(), charset or "utf-8")


def snippet(raw: bytes | None, is_html: bool, encoding: bytes, charset: str) -> str | None:
    """The opening of a text part (its first bytes, maybe cut mid-word) as a short plain text."""
    if not raw:
        return None
    if encoding == b"base64":
        raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        try:
            raw = base64.b64decode(raw[: len(raw) // 4 * 4])
        except (binascii.Error, ValueError):
            return None
    elif encoding == b"quoted-printable":
        raw = quopri.decodestring(re.sub(rb"=[0-9A-Fa-f\r]?$", b"", raw))
    try:
        value = raw.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):  # unknown charsets, and codecs like idna that refuse
        value = raw.decode("utf-8", errors="replace")
    value = value.rstrip("\ufffd")  # a character cut by the byte limit
    if is_html:
        value = re.sub(r"(?is)<(style|script)\b.*?(</\1\s*>|$)", " ", value)
        value = html.unescape(re.sub(r"<[^>]*(>|$)", " ", value))
    value = " ".join(clean_text(value).split())
    return value[:SNIPPET_CHARS] or None


def message_ids(raw: bytes | None) -> list[str]:
    """The ``<id>`` tokens of a References (or In-Reply-To) header block."""
    return [m[:512] for m in re.findall(r"<[^<>\s]+>", decoded(raw, 20000) or "")]
