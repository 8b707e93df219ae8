"""Slack incoming webhook (``SLACK_WEBHOOK_URL``): a Block Kit message with a dashboard button,
posted through the egress guard like any destination an admin chose. Failures say the status
or a short reason, never what the receiver answered."""
from __future__ import annotations

from collections.abc import Mapping

from vani import egress
from vani.models import Channel, NotificationKind, SendStatus
from vani.notifications.base import ChannelError, Sender
from vani.notifications.render import Rendered

EMOJI = {NotificationKind.PAYMENT_RECEIVED: ":moneybag:", NotificationKind.MEETING_COMPLETED: ":white_check_mark:",
         NotificationKind.PROSPECT_CREATED: ":wave:", NotificationKind.MESSAGE_RECEIVED: ":speech_balloon:"}

def escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(r: Rendered) -> dict:
    emoji = EMOJI.get(r.kind, ":rotating_light:" if r.kind.startswith("alert.") else ":bell:")
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


def send(r: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
    reply = egress.call("POST", cfg["SLACK_WEBHOOK_URL"], float(cfg.get("VANI_NOTIFY_TIMEOUT_SECONDS", 10)),
                        policy=egress.destination(), json=build_payload(r))
    if reply.status_code is None:
        raise ChannelError(f"could not reach Slack: {reply.error}"[:500])
    if not reply.ok:
        raise ChannelError(f"Slack answered {reply.status_code}" + (f" ({reply.error})" if reply.error else ""))
    return SendStatus.SENT, f"Slack answered {reply.status_code}"


class SlackSender(Sender):
    channel = Channel.SLACK
    needs = ("SLACK_WEBHOOK_URL",)
    by_default = True

    def send(self, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
        return send(rendered, cfg)
