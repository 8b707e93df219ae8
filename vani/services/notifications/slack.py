"""Slack incoming webhook (``SLACK_WEBHOOK_URL``): a Block Kit message with a dashboard button."""
from __future__ import annotations

from collections.abc import Mapping

import requests

from vani.services.notifications.base import ChannelError
from vani.services.notifications.render import Rendered

EMOJI = {"payment.received": ":moneybag:", "meeting.completed": ":white_check_mark:",
         "prospect.created": ":wave:", "message.received": ":speech_balloon:"}

_session: requests.Session | None = None


def _http() -> requests.Session:
    """One keep-alive session per worker process."""
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


def escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(r: Rendered) -> dict:
    emoji = EMOJI.get(r.kind, ":bell:")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{r.title}"[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {escape(r.summary)}"[:3000]}},
    ]
    if r.quote:
        quoted = "\n".join("> " + line for line in escape(r.quote[:1500]).splitlines() or [""])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quoted}})
    if r.fields:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{escape(label)}*\n{escape(value)}"[:2000]} for label, value in r.fields[:10]]})
    if r.link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open in Vani"}, "url": r.link,
            "action_id": f"vani_open_{r.notification_id}"}]})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"Vani · `{r.kind}` · notification {r.notification_id}"}]})
    # ``text`` is what phones and screen readers show.
    return {"text": f"{r.title}: {r.summary}"[:3000], "blocks": blocks, "unfurl_links": False}


def send(r: Rendered, cfg: Mapping) -> tuple[str, str]:
    url = cfg["SLACK_WEBHOOK_URL"]
    try:
        response = _http().post(url, json=build_payload(r), timeout=cfg.get("VANI_NOTIFY_TIMEOUT_SECONDS", 10),
                                allow_redirects=False)
    except requests.RequestException as exc:
        raise ChannelError(f"could not reach Slack: {type(exc).__name__}: {exc}"[:500]) from None
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"Slack answered {response.status_code}: {response.text[:200]}")
    return "sent", f"Slack answered {response.status_code}"
