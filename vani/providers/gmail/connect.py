"""Connecting a Gmail mailbox to the organisation in force, and disconnecting it.

Connecting is Google's authorization-code flow (requests-oauthlib): read-only Gmail scope,
offline access (a refresh token), a random ``state`` and a PKCE ``S256`` challenge kept in the
admin's session. The callback exchanges the code, reads the address (``users.getProfile``),
stores the tokens encrypted on the mailbox and starts the push (``users.watch``).
Disconnecting stops the push, revokes the grant (both best effort) and deletes the mailbox.
"""
from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app
from oauthlib.oauth2 import WebApplicationClient
from sqlalchemy import select

from vani import egress, tenancy
from vani.errors import Conflict, Forbidden, InvalidField, VaniError
from vani.extensions import db
from vani.mail import mailboxes
from vani.models import Mailbox, MailboxKind, MailboxState, SyncStatus
from vani.providers.gmail import api as gmail_api
from vani.providers.gmail import sync as gmail_sync
from vani.providers.gmail.api import SCOPE, Gmail, GmailError

PENDING_SECONDS = 15 * 60  # a sign-in not finished by then starts again
SETTINGS = ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GMAIL_PUBSUB_TOPIC")


@dataclass
class Report:
    """What connecting or disconnecting did, and what it could not do."""
    mailbox: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def missing_settings() -> str | None:
    """Why "Connect Gmail" cannot start here (the settings to set), or None."""
    unset = [name for name in SETTINGS if not current_app.config.get(name)]
    return f"{' and '.join(unset)} not set" if unset else None


def start(redirect_uri: str) -> tuple[str, dict]:
    """Google's authorize URL for the organisation in force, and the sign-in to keep in the session."""
    problem = missing_settings()
    if problem:
        raise VaniError(f"Connecting Gmail is not set up: {problem}.")
    cfg = current_app.config
    client = WebApplicationClient(cfg["GOOGLE_CLIENT_ID"])
    verifier = client.create_code_verifier(64)
    oauth = egress.oauth_session(client=client, redirect_uri=redirect_uri, scope=[SCOPE])
    url, state = oauth.authorization_url(cfg["GOOGLE_AUTH_URL"], access_type="offline", prompt="consent",
                                         code_challenge=client.create_code_challenge(verifier, "S256"),
                                         code_challenge_method="S256")
    return url, {"state": state, "verifier": verifier, "org_id": tenancy.require(), "redirect_uri": redirect_uri,
                 "started": time.time()}


def check_callback(pending: Mapping | None, args: Mapping) -> str:
    """The code from Google's redirect, once it is proven to answer the sign-in this member started
    for this organisation. Raises otherwise, storing nothing."""
    if args.get("error"):
        raise VaniError(f"Google did not connect the mailbox: {args.get('error_description') or args['error']}.")
    state = args.get("state") or ""
    if not pending or not state or not hmac.compare_digest(str(pending.get("state", "")), state):
        raise VaniError("This Google sign-in does not match one started here (missing or wrong state); "
                        "start again with Connect Gmail.")
    if pending.get("org_id") != tenancy.require():
        raise Forbidden("This Google sign-in was started for another organisation; switch back to it and "
                        "connect again from there.")
    if time.time() - float(pending.get("started") or 0) > PENDING_SECONDS:
        raise VaniError("This Google sign-in took too long; start again with Connect Gmail.")
    if not args.get("code"):
        raise InvalidField("code", "Google's redirect carries no code")
    return args["code"]


def connect(pending: Mapping | None, args: Mapping) -> Report:
    """Finish the sign-in: exchange the code, read the address, store the mailbox (commits) and
    start its push. Raises ``GmailError`` when Google refuses a step before the mailbox is stored;
    a watch Google refuses is reported, and retried by the daily renewal."""
    code = check_callback(pending, args)
    cfg = current_app.config
    oauth = gmail_api.oauth_session(cfg, redirect_uri=pending["redirect_uri"])
    with gmail_api.token_call("exchange the code", cfg):
        token = oauth.fetch_token(cfg["GOOGLE_TOKEN_URL"], code=code, client_secret=cfg["GOOGLE_CLIENT_SECRET"],
                                  include_client_id=True, code_verifier=pending["verifier"],
                                  timeout=gmail_api.timeout(cfg))
    granted = Mailbox(kind=MailboxKind.GMAIL)
    gmail_api.save_tokens(granted, token)
    profile = Gmail(granted, cfg).profile()
    address = str(profile.get("emailAddress") or "").strip().lower()
    if "@" not in address or len(address) > 320:
        raise GmailError("Gmail's profile names no email address")
    mailbox = mailboxes.by_address(MailboxKind.GMAIL, address)
    if mailbox is None:
        mailbox = Mailbox(kind=MailboxKind.GMAIL, address=address)
        db.session.add(mailbox)
    mailbox.access_token, mailbox.token_expires_at = granted.access_token, granted.token_expires_at
    mailbox.refresh_token = granted.refresh_token or mailbox.refresh_token
    if not mailbox.refresh_token:
        db.session.rollback()
        raise GmailError("Google sent no refresh token: remove Vani's access in the Google account's "
                         "security settings and connect again")
    mailbox.state, mailbox.last_error = MailboxState.CONNECTED, None
    report = Report(address, done=[f"connected {address}"])
    try:
        gmail_sync.watch(mailbox, cfg)
        report.done.append("Gmail pushes its changes to Vani")
    except GmailError as exc:
        mailbox.last_error = f"Gmail did not start pushing changes: {exc.message}"[:2000]
        report.failed.append(mailbox.last_error)
    db.session.flush()
    mailboxes.mark_due(mailbox.id, by_person=True)  # a new mailbox reads its last days; a reconnected one catches up
    mailboxes.wake()
    db.session.commit()
    return report


def disconnect(mailbox: Mailbox) -> Report:
    """Stop the mailbox's push and revoke its grant (best effort: what failed is reported), then
    delete it (commits)."""
    if mailbox.kind != MailboxKind.GMAIL:
        raise VaniError(f"{mailbox.address} is not a Gmail mailbox: remove it instead.")
    if mailbox.status == SyncStatus.SYNCING:
        raise Conflict("the mailbox is syncing right now: try again in a moment")
    cfg = current_app.config
    report = Report(mailbox.address)
    steps = (("stopped the push", "stopping the push", lambda: Gmail(mailbox, cfg).stop()),
             ("revoked Vani's access", "revoking Vani's access", lambda: _revoke(mailbox, cfg)))
    if _shared(mailbox):  # the watch and the grant belong to the Google account: keep them for the other
        steps = ()
        report.done.append("left Google's push and grant in place: another organisation reads this mailbox")
    for done, doing, step in steps:  # stop first: it needs the token the revocation ends
        try:
            step()
            report.done.append(done)
        except GmailError as exc:
            report.failed.append(f"{doing}: {exc.message}")
    mailboxes.remove(mailbox.id)
    report.done.append("removed the mailbox from Vani")
    return report


def _shared(mailbox: Mailbox) -> bool:
    """True when another organisation has connected the same Gmail address."""
    with tenancy.everywhere():
        return db.session.execute(select(Mailbox.id).where(
            Mailbox.kind == MailboxKind.GMAIL, Mailbox.address == mailbox.address,
            Mailbox.id != mailbox.id).limit(1)).first() is not None


def _revoke(mailbox: Mailbox, cfg: Mapping) -> None:
    token = mailbox.refresh_token or mailbox.access_token
    if not token:
        raise GmailError("no token is stored")
    gmail_api.revoke(token, cfg)
