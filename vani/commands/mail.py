"""``flask vani mail …``: read the mailboxes now (for cron and tests), or watch them for new mail."""
from __future__ import annotations

import click

from vani import metrics_export, orgs, tenancy, work
from vani.commands.group import vani_cli
from vani.commands.progress import Progress
from vani.errors import InvalidField, NotFound
from vani.extensions import db
from vani.mail import mailboxes, store
from vani.mail.sync import MAILBOX_SYNCS
from vani.models import EventStatus, Mailbox, MailboxFolder, MailboxState, ProcessRole, WebhookEvent
from vani.models.base import utcnow
from vani.processing.events import EVENTS
from vani.providers.imap import client as imap_client
from vani.providers.imap.watch import Watcher
from vani.work import heartbeat, stopping

MAX_ROUNDS = 100  # of event claims in ``--process``; what is left waits for a worker


@vani_cli.group("mail")
def mail() -> None:
    """Mailboxes (Gmail and IMAP)."""


def _settings_mailbox() -> None:
    """The mailbox IMAP_HOST/IMAP_USER/IMAP_PASSWORD describe, in the default organisation."""
    from flask import current_app

    try:
        with tenancy.acting_for(orgs.default_id()):
            imap_client.ensure_settings_mailbox(current_app.config)
    except InvalidField as exc:
        click.echo(f"the IMAP_* settings describe no usable mailbox: {exc.detail}", err=True)


def _org_id(slug: str | None) -> int | None:
    if not slug:
        return None
    try:
        return orgs.by_slug(slug).id
    except NotFound as exc:
        raise click.BadParameter(f"{exc.detail} (see `flask vani list-orgs`)", param_hint="--org") from None


@mail.command("sync")
@click.option("--org", "org_slug", metavar="SLUG", help="Only this organisation's mailboxes (default: every one).")
@click.option("--process", is_flag=True, help="Also map the stored messages now, in this process.")
def sync_command(org_slug: str | None, process: bool) -> None:
    """Read every mailbox once, now, in this process, and print how each went (exit code 1 when
    one failed). Mailboxes waiting for a new password are left alone."""
    from sqlalchemy import select

    _settings_mailbox()
    org_id = _org_id(org_slug)
    with tenancy.everywhere():
        found = db.session.execute(select(Mailbox.id, Mailbox.org_id).where(
            *([Mailbox.org_id == org_id] if org_id else [])).order_by(Mailbox.org_id, Mailbox.id)).all()
    if not found:
        click.echo("no mailboxes (add one on the dashboard, or set IMAP_HOST, IMAP_USER and IMAP_PASSWORD)")
    failed = 0
    with Progress() as progress:
        for done, (mailbox_id, mailbox_org) in enumerate(found):
            progress("mailboxes", done, len(found))
            with tenancy.acting_for(mailbox_org):
                line, ok = _sync_one(mailbox_id)
            progress.echo(line)
            failed += not ok
        if found:
            progress("mailboxes", len(found), len(found))
    if process:
        processed, unprocessed = _process({o for _, o in found})
        click.echo(f"processed {processed} event(s)" + (f", {unprocessed} failed" if unprocessed else ""))
        failed += bool(unprocessed)
    if failed:
        raise SystemExit(1)


def _sync_one(mailbox_id: int) -> tuple[str, bool]:
    """Sync one mailbox of the organisation in force through its lane, here; its line and
    whether it went well."""
    from sqlalchemy import select

    mailbox = mailboxes.get(mailbox_id)
    name = f"{mailbox.kind} {mailbox.address}: "
    if mailbox.state == MailboxState.NEEDS_RECONNECT:  # trying again could lock the account
        return f"{name}{mailbox.state}: {mailbox.last_error} (not tried: give the password again)", False
    before = store.count_events(mailbox)
    mailboxes.mark_due(mailbox_id, by_person=True)  # unless it is due already, or a worker has it
    db.session.commit()
    org_id = tenancy.current()
    with tenancy.acting_for(None):  # as a worker does: the lane puts the mailbox's organisation in force
        ran = work.run_inline(MAILBOX_SYNCS, [mailbox_id])
    with tenancy.acting_for(org_id):
        db.session.refresh(mailbox)
        if not ran:
            return f"{name}a worker is syncing it right now; skipped", True
        if mailbox.state != MailboxState.CONNECTED:
            return f"{name}{mailbox.state}: {mailbox.last_error}", False
        folders = db.session.execute(select(MailboxFolder).where(
            MailboxFolder.mailbox_id == mailbox_id).order_by(MailboxFolder.id)).scalars().all()
        read = [f"{f.name} (last UID {f.last_uid})" for f in folders if f.uidvalidity is not None]
        missing = [f.name for f in folders if f.uidvalidity is None and f.name in (mailbox.folders or [])]
        return (f"{name}{store.count_events(mailbox) - before} new message(s)" + "".join(
            f"; {label}{', '.join(names)}" for label, names in (("", read), ("not on the server: ", missing)) if names),
            True)


def _process(org_ids: set[int]) -> tuple[int, int]:
    """Map the organisations' due events here and now (the events lane, inline)."""
    from sqlalchemy import select

    done: set[int] = set()
    for _ in range(MAX_ROUNDS):
        with tenancy.everywhere():
            due = db.session.execute(select(WebhookEvent.id).where(
                WebhookEvent.org_id.in_(org_ids), WebhookEvent.status.in_(EVENTS.ready),
                WebhookEvent.next_attempt_at <= utcnow()).order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
                .limit(200)).scalars()
            ids = [i for i in due if i not in done]  # one try each: a failed one waits for its retry
        db.session.rollback()
        if not ids:
            break
        with tenancy.acting_for(None):
            work.run_inline(EVENTS, ids)
        done.update(ids)
    statuses = []
    with tenancy.everywhere():
        for start in range(0, len(done), 500):
            chunk = sorted(done)[start:start + 500]
            statuses += db.session.execute(select(WebhookEvent.status).where(WebhookEvent.id.in_(chunk))).scalars()
    ok = sum(s in (EventStatus.PROCESSED, EventStatus.IGNORED) for s in statuses)
    return ok, len(statuses) - ok


@mail.command("watch")
def watch_command() -> None:
    """Listen for new IMAP mail (IDLE, else polling) and ask the workers to sync; runs until stopped.
    Run one per host: each mailbox is watched by one copy, and a stopped copy's mailboxes move to the others."""
    import threading

    from flask import current_app

    _settings_mailbox()
    metrics_export.serve_in_thread(current_app.config)
    stop = threading.Event()
    stopping.install_for(stop)
    click.echo(f"watching IMAP mailboxes; polling every {current_app.config.get('VANI_MAIL_POLL_SECONDS', 60)} s "
               "where the server has no IDLE")
    with heartbeat.running(ProcessRole.MAIL_WATCHER):
        Watcher(current_app._get_current_object()).run(stop)
    click.echo("stopped")
