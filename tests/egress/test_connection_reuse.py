"""A kept-alive connection is reused only under the policy it was checked for: one opened for a
provider API call to a trusted origin is not handed to a subscriber delivery or a Slack message
(nothing trusted) going to the same origin."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.outbound.helpers import attempts, deliver, delivery, emit, subscribe
from vani import egress


class KeepAliveServer:
    """A loopback HTTP/1.1 server that keeps connections open; counts connections and requests."""

    def __init__(self):
        self.paths: list[str] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                outer.connections += 1
                super().setup()

            def _answer(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def keep_alive():
    egress.reset_sessions()
    server = KeepAliveServer()
    yield server
    server.close()
    egress.reset_sessions()


def test_a_connection_kept_alive_for_a_trusted_origin_is_not_reused_for_a_destination(app, keep_alive):
    sub, _ = subscribe(f"{keep_alive.origin}/hook")  # saved while private targets were allowed
    app.config["VANI_ALLOW_PRIVATE_TARGETS"] = False
    app.config["CALENDLY_API_BASE"] = keep_alive.origin  # the operator's setting: a trusted origin
    trusted = egress.call("GET", f"{keep_alive.origin}/users/me", 5.0)
    again = egress.call("GET", f"{keep_alive.origin}/users/me", 5.0)
    assert trusted.status_code == again.status_code == 200
    assert keep_alive.connections == 1  # kept alive and reused under the same policy
    [delivery_id] = emit()
    deliver()
    assert delivery(delivery_id).last_error == "refused target: 127.0.0.1 is a loopback address"
    assert attempts(delivery_id)[0].status_code is None
    reply = egress.call("POST", f"{keep_alive.origin}/services/x", 5.0, policy=egress.destination(), json={})
    assert reply.status_code is None and reply.error.startswith("refused target")
    assert keep_alive.paths == ["/users/me", "/users/me"] and keep_alive.connections == 1
    assert egress.call("GET", f"{keep_alive.origin}/users/me", 5.0).status_code == 200  # the trusted call still goes
