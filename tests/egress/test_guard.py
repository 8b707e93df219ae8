"""The one egress: Slack URLs and IMAP servers obey the SSRF guard when saved and when called, no
peer's bytes reach a page, the operator's allow-list of private targets, names that do not resolve
yet, and provider API links that leave the configured origin."""
from __future__ import annotations

import socket
import threading

import pytest
from werkzeug.wrappers import Response

from tests.notifications.helpers import PUBLIC, inbound, message_notification, post_twilio, sends
from tests.outbound.helpers import deliver, delivery, emit, subscribe
from tests.work.helpers import drain
from vani import egress, orgs
from vani.errors import InvalidField
from vani.extensions import db
from vani.mail import mailboxes
from vani.mail.sync import MAILBOX_SYNCS
from vani.models import Mailbox

SECRET = "internal-secret-42"


@pytest.fixture
def production(app):
    """Production's rule for private targets: refused."""
    app.config["VANI_ALLOW_PRIVATE_TARGETS"] = False
    return app


class LineServer:
    """A loopback TCP server: sends ``greeting``, then answers each line with ``answer(line)``."""

    def __init__(self, greeting: bytes, answer=lambda line: b""):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.answer, self.connections = greeting, answer, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            try:
                conn.sendall(self.greeting)
                for line in conn.makefile("rb"):
                    conn.sendall(self.answer(line))
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def line_server():
    made = []

    def make(greeting: bytes, answer=lambda line: b"") -> LineServer:
        made.append(LineServer(greeting, answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


# -- Slack -----------------------------------------------------------------------------------
def test_a_slack_url_on_loopback_is_refused_when_saved(production, login, httpserver):
    url = f"http://127.0.0.1:{httpserver.port}/services/T/B/x"
    admin = login("admin")
    r = admin.post("/dashboard/organisation/notifications",
                   data={"routes": "*=slack", "slack_url": url, "email_to": "", "csrf_token": admin.csrf})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "slack_url: refused: 127.0.0.1 is a loopback address" in page
    assert "Notification settings saved." not in page
    db.session.expire_all()
    org = orgs.in_force()
    assert org.slack_webhook_url is None and org.notify_routes is None  # nothing stored
    with pytest.raises(InvalidField) as info:
        orgs.set_notifications(slack_url="http://169.254.169.254/latest/meta-data")
    assert info.value.field == "slack_url" and "refused: 169.254.169.254" in info.value.reason
    result = production.test_cli_runner().invoke(args=["vani", "set-notifications", "--slack-url", url])
    assert result.exit_code != 0 and "refused: 127.0.0.1 is a loopback address" in result.output
    assert orgs.in_force().slack_webhook_url is None and httpserver.log == []


def test_a_refusal_does_not_tell_the_internal_address_a_name_resolves_to(production, login, dns):
    dns["hooks.corp.test"] = "10.1.2.3"
    dns["db.internal.test"] = "fd00::5"
    admin = login("admin")
    r = admin.post("/dashboard/organisation/notifications", data={
        "routes": "*=slack", "slack_url": "https://hooks.corp.test/services/T/B/x", "email_to": "", "csrf_token": admin.csrf})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "slack_url: refused: hooks.corp.test resolves to a private or reserved address" in page
    assert "10.1.2.3" not in page and "private address" not in page
    with pytest.raises(InvalidField) as info:
        mailboxes.add_imap(imap_form(host="db.internal.test"))
    assert info.value.reason == "refused: db.internal.test resolves to a private or reserved address"
    with pytest.raises(egress.BlockedTarget) as blocked:  # when connecting as well
        egress.connect("db.internal.test", 993, 5, egress.Kind.IMAP)
    assert str(blocked.value) == "db.internal.test resolves to a private or reserved address"
    with pytest.raises(InvalidField) as info:  # an address the admin typed: told as it is
        mailboxes.add_imap(imap_form(host="10.1.2.3"))
    assert info.value.reason == "refused: 10.1.2.3 is a private address"
    assert orgs.in_force().slack_webhook_url is None and mailboxes.all_mailboxes() == []


def test_a_stored_loopback_slack_url_is_never_called_in_production(production, client, run_worker, httpserver):
    httpserver.expect_request("/hook").respond_with_data(f"SSH-2.0-OpenSSH {SECRET}", status=500)
    production.config.update(PUBLIC_URL=PUBLIC, VANI_NOTIFY_ROUTES="message.received=slack;*=none")
    org = orgs.in_force()
    org.slack_webhook_url = f"http://127.0.0.1:{httpserver.port}/hook"  # saved before the rule, or written by hand
    db.session.commit()
    post_twilio(client, inbound("SMe1"))
    run_worker()
    (row,) = sends(db)
    assert row.status == "failed" and "refused target" in row.last_error and "loopback" in row.last_error
    assert SECRET not in row.last_error and SECRET not in (message_notification(db).last_error or "")
    assert httpserver.log == []


def test_slack_errors_say_the_status_never_the_answer(app, client, run_worker, httpserver):
    httpserver.expect_request("/hook").respond_with_data(f"no_service {SECRET}", status=404)
    app.config.update(SLACK_WEBHOOK_URL=httpserver.url_for("/hook"), PUBLIC_URL=PUBLIC,
                      VANI_NOTIFY_ROUTES="message.received=slack;*=none")
    post_twilio(client, inbound("SMe2"))
    run_worker()
    (row,) = sends(db)
    assert row.last_error == "Slack answered 404" and len(httpserver.log) == 1
    assert SECRET not in message_notification(db).last_error


# -- IMAP ------------------------------------------------------------------------------------
def imap_form(host: str = "127.0.0.1", port: int = 993, **changes) -> dict:
    return {"host": host, "port": port, "user": "sales@example.com", "password": "pw", "ssl": "0",
            "folders": "INBOX", **changes}


def test_a_server_that_is_not_imap_shows_no_banner(app, login, line_server):
    server = line_server(f"SSH-2.0-OpenSSH_9.6 {SECRET}\r\n".encode())
    app.config["VANI_ALLOW_ANY_PORT"] = True  # its port is a random one
    mailbox = mailboxes.add_imap(imap_form(port=server.port))
    drain(MAILBOX_SYNCS)
    db.session.expire_all()
    box = db.session.get(Mailbox, mailbox.id)
    assert box.last_error == f"127.0.0.1:{server.port} did not greet as an IMAP server" and server.connections == 1
    page = login("admin").get("/dashboard/mailboxes").get_data(as_text=True)
    assert "did not greet as an IMAP server" in page and SECRET not in page and "OpenSSH" not in page


def test_a_refused_login_shows_the_response_code_not_the_servers_words(app, line_server):
    def answer(line: bytes) -> bytes:
        tag, command = line.strip().split(b" ", 2)[:2]
        if command.upper() == b"LOGIN":
            return tag + b" NO [AUTHENTICATIONFAILED] " + SECRET.encode() + b"\r\n"
        if command.upper() == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
        if command.upper() == b"LOGOUT":
            return b"* BYE bye\r\n" + tag + b" OK done\r\n"
        return tag + b" BAD unknown\r\n"

    server = line_server(b"* OK ready\r\n", answer)
    app.config["VANI_ALLOW_ANY_PORT"] = True
    mailbox = mailboxes.add_imap(imap_form(port=server.port))
    drain(MAILBOX_SYNCS)
    db.session.expire_all()
    box = db.session.get(Mailbox, mailbox.id)
    assert box.state == "needs_reconnect", box.last_error
    assert box.last_error == f"127.0.0.1:{server.port} refused the user name or password ([AUTHENTICATIONFAILED])"


@pytest.mark.parametrize("port", [22, 25, 80, 6379, 8080])
def test_imap_ports_other_than_143_and_993_are_refused_when_saved(app, login, port):
    with pytest.raises(InvalidField) as info:
        mailboxes.add_imap(imap_form(port=port))
    assert info.value.field == "port" and f"port {port} is refused" in info.value.reason
    admin = login("admin")
    r = admin.post("/dashboard/mailboxes/imap", data={**imap_form(port=port), "csrf_token": admin.csrf})
    assert r.status_code == 400 and f"port {port} is refused" in r.get_data(as_text=True)
    assert mailboxes.all_mailboxes() == []


def test_imap_hosts_are_checked_like_urls(production, dns):
    for host in ("127.0.0.1", "10.0.0.3", "localhost", "[::1]", "mail.lan.test"):
        dns["mail.lan.test"] = "192.168.1.20"
        with pytest.raises(InvalidField) as info:
            mailboxes.add_imap(imap_form(host=host, port=143))
        assert info.value.field == "host" and "refused" in info.value.reason
    assert mailboxes.all_mailboxes() == []
    dns["imap.example.test"] = "93.184.216.34"
    assert mailboxes.add_imap(imap_form(host="imap.example.test")).imap_port == 993


# -- the allow-list --------------------------------------------------------------------------
def test_the_allow_list_lets_listed_private_targets_through_in_production(production, dns, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    production.config["VANI_PRIVATE_TARGETS_ALLOWED"] = "127.0.0.1/32, crm.office.test, *.mail.office.test"
    dns["crm.office.test"] = dns["other.office.test"] = "127.0.0.1"
    dns["imap.mail.office.test"] = "10.0.0.7"
    subscribe(f"http://127.0.0.1:{httpserver.port}/hook")  # the listed network
    subscribe(f"http://crm.office.test:{httpserver.port}/hook")  # the listed name
    for refused in ("http://127.0.0.2/hook", "http://10.1.2.3:8080/", f"http://[::1]:{httpserver.port}/"):
        with pytest.raises(InvalidField, match="refused"):
            subscribe(refused)
    assert mailboxes.add_imap(imap_form(host="imap.mail.office.test")).imap_host == "imap.mail.office.test"
    with pytest.raises(InvalidField, match="refused"):
        mailboxes.add_imap(imap_form(host="10.0.0.8", address="other@example.com"))
    [first, second] = emit()
    deliver()
    assert {delivery(first).status, delivery(second).status} == {"delivered"} and len(httpserver.log) == 2
    dns["crm.office.test"] = dns["other.office.test"] = "127.0.0.2"  # off the listed network: a listed name still passes
    policy = egress.Policy.from_config(production.config).for_destination()
    assert egress.resolve_checked("crm.office.test", 80, policy) == ["127.0.0.2"]
    with pytest.raises(egress.BlockedTarget):  # the same address, a name not listed
        egress.resolve_checked("other.office.test", 80, policy)


def test_allow_list_entries_and_check_config(production):
    entries, bad = egress.parse_allowed("10.20.0.0/16, fd00::/8 ,crm.office.lan,*.office.lan, bad entry!, 10.0.0.5")
    assert [str(e) for e in entries] == ["10.20.0.0/16", "fd00::/8", "crm.office.lan", "*.office.lan", "10.0.0.5/32"]
    assert bad == ["bad entry!"]
    production.config.update(VANI_PRIVATE_TARGETS_ALLOWED="10.20.0.0/16,crm.office.lan")
    output = production.test_cli_runner().invoke(args=["vani", "check-config"]).output
    assert "private targets allowed (VANI_PRIVATE_TARGETS_ALLOWED): 10.20.0.0/16, crm.office.lan" in output
    production.config.update(VANI_PRIVATE_TARGETS_ALLOWED="10.20.0.0/16,bad entry!")
    output = production.test_cli_runner().invoke(args=["vani", "check-config"]).output
    assert "VANI_PRIVATE_TARGETS_ALLOWED: 'bad entry!' is neither a network" in output


def test_production_starts_with_an_allow_list(monkeypatch):
    from tests.settings import production_env
    from vani import create_app

    production_env(monkeypatch, VANI_PRIVATE_TARGETS_ALLOWED="10.20.0.0/16,crm.office.lan")
    app = create_app()
    assert app.config["ENV_NAME"] == "production" and not app.config["VANI_ALLOW_PRIVATE_TARGETS"]
    assert [str(e) for e in egress.Policy.from_config(app.config).allowed] == ["10.20.0.0/16", "crm.office.lan"]


# -- names that do not resolve yet -----------------------------------------------------------
def test_a_name_that_does_not_resolve_yet_can_be_saved(production, dns):
    sub, _ = subscribe("https://hooks.not-yet.test/hook")
    assert sub.url == "https://hooks.not-yet.test/hook"
    orgs.set_notifications(slack_url="https://chat.not-yet.test/hook")
    assert orgs.in_force().slack_webhook_url == "https://chat.not-yet.test/hook"
    assert mailboxes.add_imap(imap_form(host="imap.not-yet.test")).imap_host == "imap.not-yet.test"
    [delivery_id] = emit()
    deliver()  # the send-time check is the guard: still nothing to call
    assert "does not resolve" in delivery(delivery_id).last_error


# -- provider APIs: the configured origin is trusted, a link elsewhere is not -------------------
def test_a_link_leaving_the_configured_api_origin_is_checked(production, httpserver, line_server):
    from vani.providers.calendly.registrar import calendly_client, paginate
    from vani.registration.http import ApiError

    elsewhere = line_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    production.config["CALENDLY_API_BASE"] = httpserver.url_for("").rstrip("/")  # an operator setting: trusted
    httpserver.expect_request("/things").respond_with_json({
        "collection": [{"id": 1}], "pagination": {"next_page": f"http://127.0.0.1:{elsewhere.port}/things?p=2"}})
    with pytest.raises(ApiError) as info:
        paginate(calendly_client(production.config), "/things", {})
    assert "refused target" in str(info.value) and "loopback" in str(info.value)
    assert len(httpserver.log) == 1 and elsewhere.connections == 0


def test_calls_outside_an_app_are_held_to_the_strictest_policy(httpserver):
    httpserver.expect_request("/x").respond_with_response(Response("ok"))
    reply = egress.call("GET", httpserver.url_for("/x"), 2.0)
    assert reply.status_code is None and reply.error.startswith("refused target") and httpserver.log == []
