"""Long CLI work shows how far it is: a progress bar on a terminal, plain lines anywhere else (here:
``CliRunner`` is not a terminal). Progress goes to stderr; the results on stdout are unchanged."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from tests.outbound.helpers import emit
from vani.commands import progress as progress_module
from vani.commands.progress import Progress
from vani.extensions import db
from vani.models import (
    Backfill,
    BackfillStatus,
    Mailbox,
    MailboxKind,
    MailboxState,
    ProviderCredential,
    RejectedCall,
    WebhookDelivery,
)
from vani.models.base import utcnow
from vani.outbound import backfill


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def every_step(monkeypatch):
    """A plain line for every step (no pause between lines), so short test runs show them all."""
    monkeypatch.setattr(progress_module, "PLAIN_EVERY", 0.0)


def test_plain_lines_say_each_step_and_its_end(every_step):
    out = io.StringIO()
    with Progress(out) as progress:
        for done in (0, 1, 3):
            progress("rows", done, 3)
        progress("nothing", 0, 0)
    assert out.getvalue().splitlines() == ["rows: 0/3 (0%)", "rows: 1/3 (33%)", "rows: 3/3 (100%)", "nothing: 0/0"]


def test_plain_lines_come_at_most_every_few_seconds_but_the_last_always(monkeypatch):
    monkeypatch.setattr(progress_module, "PLAIN_EVERY", 3600.0)
    out = io.StringIO()
    with Progress(out) as progress:
        for done in range(0, 1001, 100):
            progress("rows", done, 2000)  # the count was high: the work ends at 1000
    assert out.getvalue().splitlines() == ["rows: 0/2000 (0%)", "rows: 1000/2000 (50%)"]


def test_on_a_terminal_a_bar_is_drawn_and_result_lines_do_not_break_it():
    out = Terminal()
    with Progress(out) as progress:
        assert progress.terminal
        progress("rows", 0, 4)
        progress("rows", 2, 4)
        progress("rows", 4, 4)
    text = out.getvalue()
    assert "\r" in text and "rows" in text and "4/4" in text and "100%" in text
    assert "rows: 2/4" not in text  # no plain lines on a terminal
    buffer = Terminal()
    with Progress(buffer) as progress:
        progress("mailboxes", 0, 2)
        progress.echo("a result line", file=buffer)
    assert progress_module.CLEAR_LINE + "a result line\n" in buffer.getvalue()


def test_cleanup_shows_each_table(app, every_step):
    old = utcnow() - timedelta(days=40)
    db.session.add_all([RejectedCall(provider="cal_com", reason="invalid_signature", headers={}, created_at=old)
                        for _ in range(3)])
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["vani", "cleanup", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "rejected_calls: 0/3 (0%)\nrejected_calls: 3/3 (100%)\n" in result.stderr
    assert "webhook_events: 0/0\n" in result.stderr
    assert "deleted 3 rejected calls older than 30 days" in result.stdout and "rejected_calls:" not in result.stdout


def test_key_rotation_shows_each_column(app, every_step):
    for n in range(3):
        db.session.add(ProviderCredential(provider="kapso", name=f"setting_{n}", value=f"value-{n}"))
    db.session.commit()
    old = app.config["VANI_ENCRYPTION_KEYS"]
    app.config["VANI_ENCRYPTION_KEYS"] = f"{Fernet.generate_key().decode()},{old}"
    result = app.test_cli_runner().invoke(args=["vani", "rotate-encryption-key"])
    assert result.exit_code == 0, result.output
    assert "provider_credentials.value: 0/3 (0%)\nprovider_credentials.value: 3/3 (100%)\n" in result.stderr
    assert "provider_credentials.value: 3 re-encrypted" in result.stdout


def test_mail_sync_shows_the_mailboxes(app, every_step):
    for n in range(2):  # waiting for a password: reported, not tried (no server needed)
        db.session.add(Mailbox(kind=MailboxKind.IMAP, address=f"box{n}@example.com", imap_host="imap.invalid",
                               state=MailboxState.NEEDS_RECONNECT, last_error="refused"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["vani", "mail", "sync"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["mailboxes: 0/2 (0%)", "mailboxes: 1/2 (50%)", "mailboxes: 2/2 (100%)"]
    assert result.stdout.count("(not tried: give the password again)") == 2


def test_backfill_from_the_cli_runs_here_and_shows_each_chunk(app, api, httpserver, every_step, monkeypatch):
    monkeypatch.setattr(backfill, "CHUNK", 2)
    for n in range(5):
        emit("meeting.scheduled", {"n": n})
    sub = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/x"), "events": ["*"]}).json
    result = app.test_cli_runner().invoke(args=["vani", "deliveries", "backfill", str(sub["id"]),
                                                "--since", "2000-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "events: 0/5 (0%)\nevents: 2/5 (40%)\nevents: 4/5 (80%)\nevents: 5/5 (100%)\n" in result.stderr
    assert "backfill" in result.stdout and "5 event(s) to look at" in result.stdout
    assert "done; looked at 5 event(s), made 5 deliveries" in result.stdout
    assert db.session.query(WebhookDelivery).count() == 5
    again = app.test_cli_runner().invoke(args=["vani", "deliveries", "backfill", str(sub["id"]),
                                               "--since", "2000-01-01T00:00:00Z", "--queue"])
    assert again.exit_code == 0 and again.stderr == ""
    queued = db.session.query(Backfill).order_by(Backfill.id.desc()).first()
    assert queued.status == BackfillStatus.PENDING  # left to the workers


def test_backfill_from_the_cli_refuses_clearly(app, api, httpserver):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["vani", "deliveries", "backfill", "987654", "--since", "2026-01-01"])
    assert missing.exit_code == 1 and "no subscription" in missing.output.lower()
    sub = api.post("/api/v1/webhooks/subscriptions", json={"url": httpserver.url_for("/x"), "events": ["*"]}).json
    bad = runner.invoke(args=["vani", "deliveries", "backfill", str(sub["id"]), "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_calendly_sync_shows_the_scheduled_events(app, every_step, monkeypatch):
    from vani.providers.calendly import sync as calendly_sync

    app.config["CALENDLY_API_TOKEN"] = "cal-token"
    events = [{"uri": f"https://api.calendly.com/scheduled_events/E{n}"} for n in range(3)]
    monkeypatch.setattr(calendly_sync, "calendly_client", lambda cfg, sleep: None)  # no Calendly: canned answers
    monkeypatch.setattr(calendly_sync, "current_user", lambda client: {"uri": "U", "current_organization": "O"})
    monkeypatch.setattr(calendly_sync, "scheduled_events", lambda client, me, since: events)
    monkeypatch.setattr(calendly_sync, "paginate", lambda client, path, params: [])
    result = app.test_cli_runner().invoke(args=["vani", "calendly", "sync", "--since", "2030-04-01"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["scheduled events: 0/3 (0%)", "scheduled events: 1/3 (33%)",
                                          "scheduled events: 2/3 (66%)", "scheduled events: 3/3 (100%)"]
    assert "3 scheduled event(s), 0 invitee(s)" in result.stdout
