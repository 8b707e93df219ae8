"""Email over SMTP (``SMTP_URL``): plain text with an HTML alternative.

``SMTP_URL`` looks like ``smtp://user:password@host:587`` (port 587 uses STARTTLS; elsewhere
add ``?starttls=1``, or ``?starttls=0`` to turn it off); ``smtps://`` is TLS from the first byte
(port 465 by default); user and password are URL-encoded.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from urllib.parse import parse_qs, unquote, urlparse

from vani.models import Channel, SendStatus
from vani.notifications.base import ChannelError, Sender
from vani.notifications.render import Rendered

ON = ("1", "true", "yes", "on")


@dataclass
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False


def smtp_settings(url: str) -> SmtpSettings:
    parsed = urlparse(url)
    if parsed.scheme not in ("smtp", "smtps", "smtp+starttls") or not parsed.hostname:
        raise ChannelError("SMTP_URL must look like smtp://user:pass@host:port (or smtps://)")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parsed.query).items()}
    implicit = parsed.scheme == "smtps"
    asked = query.get("starttls")
    try:
        port = parsed.port or (465 if implicit else 587 if parsed.scheme == "smtp+starttls" or asked in ON else 25)
    except ValueError:
        raise ChannelError("SMTP_URL has an invalid port") from None
    # Port 587 (submission) means STARTTLS unless ?starttls=0 says otherwise.
    starttls = not implicit and (asked in ON if asked is not None else parsed.scheme == "smtp+starttls" or port == 587)
    return SmtpSettings(parsed.hostname, port, unquote(parsed.username) if parsed.username else None,
                        unquote(parsed.password) if parsed.password else None, implicit, starttls)


def build_message(r: Rendered, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[Vani] {r.title}: {r.summary}"[:200]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip("> ") or "vani.local"
    # Stable per notification: a receiving system can drop a copy re-sent after a crash.
    msg["Message-ID"] = f"<vani-notification-{r.notification_id}@{domain}>"
    lines = [r.summary, ""]
    if r.quote:
        lines += ["  " + line for line in r.quote.splitlines()] + [""]
    lines += [f"{label}: {value}" for label, value in r.fields]
    if r.link:
        lines += ["", f"Open in Vani: {r.link}"]
    msg.set_content("\n".join(lines) + "\n")
    rows = "".join(f"<tr><th align='left' style='padding-right:12px'>{escape(label)}</th>"
                   f"<td>{escape(value)}</td></tr>" for label, value in r.fields)
    quote = f"<blockquote>{escape(r.quote).replace(chr(10), '<br>')}</blockquote>" if r.quote else ""
    button = f"<p><a href='{escape(r.link, quote=True)}'>Open in Vani</a></p>" if r.link else ""
    msg.add_alternative(
        f"<html><body style='font-family:sans-serif'><h2>{escape(r.title)}</h2><p>{escape(r.summary)}</p>"
        f"{quote}<table>{rows}</table>{button}</body></html>", subtype="html")
    return msg


def send(r: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
    settings = smtp_settings(cfg["SMTP_URL"])
    recipients = [a.strip() for a in str(cfg["VANI_NOTIFY_EMAIL_TO"]).split(",") if a.strip()]
    msg = build_message(r, cfg.get("VANI_NOTIFY_EMAIL_FROM") or "vani@localhost", recipients)
    timeout = cfg.get("VANI_NOTIFY_TIMEOUT_SECONDS", 10)
    try:
        if settings.implicit_tls:
            server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with server:
            if settings.starttls:
                server.starttls(context=ssl.create_default_context())
            if settings.username:
                server.login(settings.username, settings.password or "")
            refused = server.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}: {exc}"[:500]) from None
    accepted = len(recipients) - len(refused)
    return SendStatus.SENT, f"accepted for {accepted} of {len(recipients)} recipient(s) by {settings.host}"


class EmailSender(Sender):
    channel = Channel.EMAIL
    needs = ("SMTP_URL", "VANI_NOTIFY_EMAIL_TO")
    by_default = True

    def send(self, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
        return send(rendered, cfg)
