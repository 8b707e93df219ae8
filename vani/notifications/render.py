"""What a notification says, once, for every channel: a title, a sentence, fields and a link."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from vani.extensions import db
from vani.models import Meeting, Notification, Prospect
from vani.models import NotificationKind as Kind
from vani.models import clock

TITLES = {
    Kind.PAYMENT_RECEIVED: "Payment received",
    Kind.MEETING_COMPLETED: "Meeting completed",
    Kind.PROSPECT_CREATED: "New prospect",
    Kind.MESSAGE_RECEIVED: "New WhatsApp message",
    Kind.MESSAGE_FAILED: "WhatsApp reply failed",
    Kind.CONVERSATION_HANDOFF: "Handoff: a person is needed",
    Kind.LEAD_CREATED: "New lead",
    Kind.MEETING_SCHEDULED: "Meeting booked",
    Kind.MEETING_CANCELLED: "Meeting cancelled",
    Kind.MEETING_NO_SHOW: "No-show",
    Kind.ALERT_SUBSCRIPTION_DISABLED: "Webhook subscription disabled",
    Kind.ALERT_DEAD_LETTERS: "Dead letters waiting",
    Kind.ALERT_PROVIDER_SUBSCRIPTION_DISABLED: "Provider stopped sending webhooks",
    Kind.ALERT_PROVIDER_QUIET: "Provider has gone quiet",
    Kind.ALERT_PROCESS_QUIET: "A Vani process has gone silent",
}
ALERT_LINKS = {Kind.ALERT_SUBSCRIPTION_DISABLED: "/dashboard/subscriptions/{subscription_id}",
               Kind.ALERT_DEAD_LETTERS: "/dashboard/", Kind.ALERT_PROVIDER_SUBSCRIPTION_DISABLED: "/dashboard/calendly",
               Kind.ALERT_PROVIDER_QUIET: "/dashboard/events", Kind.ALERT_PROCESS_QUIET: "/dashboard/processes"}


@dataclass
class Rendered:
    notification_id: int
    kind: str
    title: str
    summary: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    link: str | None = None
    quote: str | None = None  # a message's text, shown as a quote


def dashboard_link(path: str) -> str | None:
    """An absolute dashboard URL (``PUBLIC_URL`` + path), or None when no public URL is set."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return base + path if base else None


def _when(value, org_id: int | None) -> str | None:
    """A time in the organisation's time zone, the zone named."""
    return clock.describe(value, org_id) if value else None


def _amount(meeting: Meeting | None, data: dict) -> str | None:
    amount = data.get("amount") if data.get("amount") is not None else (meeting.payment_amount if meeting else None)
    currency = data.get("currency") or (meeting.payment_currency if meeting else None) or ""
    return f"{amount} {str(currency).upper()}".strip() if amount is not None else None


def _alert_summary(kind: str, data: dict) -> str:
    if kind == Kind.ALERT_SUBSCRIPTION_DISABLED:
        return (f"Vani stopped sending webhooks to {data.get('url') or 'a subscription'}: "
                f"{data.get('reason') or 'it kept failing'}. Fix the receiver, then enable it again.")
    if kind == Kind.ALERT_DEAD_LETTERS:
        return (f"{data.get('count', 'Some')} item(s) in the {data.get('lane') or 'work'} lane gave up and wait "
                f"for a person (retry or discard them).")
    if kind == Kind.ALERT_PROCESS_QUIET:
        live = data.get("live_of_role")
        return (f"The {str(data.get('role') or 'process').replace('_', ' ')} on {data.get('host') or 'a host'} "
                f"(pid {data.get('pid', '?')}) last beat {data.get('last_beat') or 'long ago'} and has gone silent: "
                f"was it killed?" + (f" {live} other live one(s) carry on." if live else
                                     " None other of its kind is alive: work waits until one starts."))
    provider = str(data.get("provider") or "a provider").replace("_", ".")
    if kind == Kind.ALERT_PROVIDER_SUBSCRIPTION_DISABLED:
        return (f"{provider.capitalize()} disabled its webhook subscription"
                f" (found {data.get('found_at') or 'at the last check'}): no events arrive until it is repaired.")
    if kind == Kind.ALERT_PROVIDER_QUIET:
        return (f"No {provider} event for {data.get('quiet_hours', '?')} h (usually one every "
                f"{data.get('usual_minutes', '?')} min); the last arrived {data.get('last_at') or 'long ago'}.")
    return f"{TITLES.get(kind, kind)}."


def render(n: Notification) -> Rendered:
    prospect = db.session.get(Prospect, n.prospect_id) if n.prospect_id else None
    meeting = db.session.get(Meeting, n.meeting_id) if n.meeting_id else None
    data = n.data if isinstance(n.data, dict) else {}
    who = ((prospect.name or prospect.email or prospect.phone) if prospect else None) \
        or data.get("name") or data.get("contact_name") or data.get("email") or data.get("phone") or "Someone"
    title = TITLES.get(n.kind, n.kind)
    meeting_title = (meeting.title if meeting else None) or data.get("title") or "a meeting"
    quote = None
    if n.kind == Kind.PAYMENT_RECEIVED:
        amount = _amount(meeting, data)
        summary = f"{who} paid {amount} for {meeting_title}." if amount else f"{who} paid for {meeting_title}."
    elif n.kind == Kind.MEETING_COMPLETED:
        summary = f"{meeting_title[:1].upper() + meeting_title[1:]} with {who} has ended."
    elif n.kind == Kind.PROSPECT_CREATED:
        source = (prospect.source if prospect else None) or data.get("source")
        summary = f"{who} is a new prospect" + (f" (via {source})." if source else ".")
    elif n.kind == Kind.MESSAGE_RECEIVED:
        quote = (data.get("text") or "").strip() or None
        summary = f"{who} wrote on WhatsApp." if quote else f"{who} sent a {data.get('type') or 'message'} on WhatsApp."
    elif n.kind == Kind.MESSAGE_FAILED:
        quote = (data.get("text") or "").strip() or None
        summary = f"A reply to {who} could not be sent: {data.get('error') or 'the provider refused it'}."
    elif n.kind == Kind.LEAD_CREATED:
        summary = f"{who} filled in {data.get('form') or 'a form'}."
        quote = "\n".join(f"{a.get('question')}: {a.get('answer')}" for a in (data.get("answers") or [])[:8]) or None
    elif n.kind == Kind.MEETING_SCHEDULED:
        when = _when(meeting.start_at, n.org_id) if meeting else None
        summary = f"{who} booked {meeting_title}" + (f" for {when}." if when else ".")
    elif n.kind == Kind.MEETING_CANCELLED:
        summary = f"{who} cancelled {meeting_title}" + (f": {data['reason']}" if data.get("reason") else ".")
    elif n.kind == Kind.MEETING_NO_SHOW:
        summary = f"{who} did not show up for {meeting_title}."
    elif n.kind == Kind.CONVERSATION_HANDOFF:
        reason = data.get("reason")
        summary = f"The WhatsApp bot handed {who} to a person" + (f": {reason}" if reason else ".")
    elif n.kind.startswith("alert."):
        summary = _alert_summary(n.kind, data)
    else:
        summary = f"{title}: {who}."
    fields: list[tuple[str, str]] = []
    if prospect:
        contact = " · ".join(x for x in (prospect.email, prospect.phone) if x)
        fields.append(("Prospect", f"{prospect.name or '—'}" + (f" ({contact})" if contact else "")))
    if meeting:
        fields.append(("Meeting", " · ".join(x for x in (meeting.title, _when(meeting.start_at, n.org_id)) if x) or "—"))
    if n.kind == Kind.PAYMENT_RECEIVED and _amount(meeting, data):
        fields.append(("Amount", _amount(meeting, data)))
    if data.get("conversation_id") and n.kind in (Kind.MESSAGE_RECEIVED, Kind.MESSAGE_FAILED,
                                                  Kind.CONVERSATION_HANDOFF):
        link = dashboard_link(f"/dashboard/messages/{data['conversation_id']}")
    elif n.kind.startswith("alert."):
        link = dashboard_link(ALERT_LINKS.get(n.kind, "/dashboard/notifications").format_map(
            {"subscription_id": "", **data}))
    elif prospect:
        link = dashboard_link(f"/dashboard/prospects/{prospect.id}")
    elif meeting:
        link = dashboard_link(f"/dashboard/meetings/{meeting.id}")
    else:
        link = dashboard_link("/dashboard/notifications")
    return Rendered(n.id, n.kind, title, summary, fields, link, quote)
