"""A worker's deliveries go out as coroutines on its event loop (``vani.egress.aio``): the same
guard, deadline, bounded read, no redirects and no retries as every other call, told in the
same words."""
from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.network import free_tcp_port
from vani import egress
from vani.egress import aio
from vani.outbound.posting import post

LOCAL = egress.Policy(allow_private=True)


def send(url: str, body: bytes = b"{}", headers: dict | None = None, timeout: float = 2.0,
         policy: egress.Policy = LOCAL, **kwargs):
    return aio.submit(aio.post(url, body, headers or {}, timeout, policy, **kwargs)).result(timeout=10)


@pytest.fixture
def receiver():
    """A keep-alive receiver: each request's line, headers and body are kept; the path picks
    the answer."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append({"line": self.requestline, "headers": dict(self.headers), "body": body,
                         "peer": self.client_address[1]})
            if self.path.startswith("/big"):
                answer, code = b"y" * 200_000, 200
            elif self.path.startswith("/moved"):
                answer, code = b"", 302
            else:
                answer, code = b"thanks", 200
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "/elsewhere")
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    aio.reset()


def test_a_post_sends_the_body_and_headers_and_reads_the_answer(receiver):
    base, seen = receiver
    reply = send(base + "/hook?x=1", b'{"a": 1}', {"content-type": "application/json", "webhook-id": "msg_1"})
    assert (reply.status_code, reply.body, reply.error) == (200, b"thanks", None)
    assert reply.headers.get("retry-after") == "7"
    [request] = seen
    assert request["line"] == "POST /hook?x=1 HTTP/1.1"  # the path alone on the request line
    assert request["body"] == b'{"a": 1}'
    assert request["headers"]["webhook-id"] == "msg_1" and request["headers"]["content-type"] == "application/json"
    assert "Accept-Encoding" not in request["headers"]  # an answer is stored as sent, never compressed


def test_calls_reuse_one_connection_and_a_cut_answer_drops_it(receiver):
    base, seen = receiver
    assert send(base + "/a").status_code == 200
    assert send(base + "/b").status_code == 200
    assert seen[0]["peer"] == seen[1]["peer"]  # kept alive
    big = send(base + "/big", max_read=1000)
    assert big.status_code == 200 and len(big.body) == 1000 and big.error is None
    assert send(base + "/c").status_code == 200
    assert seen[3]["peer"] != seen[2]["peer"]  # the connection read only in part was closed


def test_credentials_in_the_url_go_as_basic_auth(receiver):
    base, seen = receiver
    assert send(base.replace("http://", "http://hook-user:s3cret@") + "/hook").status_code == 200
    expected = "Basic " + base64.b64encode(b"hook-user:s3cret").decode()
    assert seen[0]["headers"]["Authorization"] == expected
    assert "hook-user" not in seen[0]["line"]


def test_a_redirect_is_not_followed(receiver):
    base, seen = receiver
    result = aio.submit(post(base + "/moved", b"{}", {}, 2.0, LOCAL)).result(timeout=10)
    assert result.status_code == 302 and result.error == "HTTP 302: redirect not followed"
    assert len(seen) == 1


def test_refused_targets_are_told_and_never_connected(receiver, monkeypatch):
    base, seen = receiver
    closed = f"http://127.0.0.1:{free_tcp_port()}/hook"
    assert send(closed).error == "connection failed: connection refused"
    strict = egress.Policy()
    reply = send(base + "/hook", policy=strict)
    assert reply.error == "refused target: 127.0.0.1 is a loopback address" and reply.status_code is None
    assert send("http://127.0.0.1:25/hook").error.startswith("refused target: port 25 is refused")
    assert send("ftp://example.com/x").error == "request failed: only http and https URLs are called"
    # Hosts aiohttp would take for an address and connect to unresolved: refused all the same.
    for odd in ("[::ffff:127.1]", "[evil:x.example.com]", "127.1", "2130706433"):
        reply = send(f"http://{odd}:{base.rsplit(':', 1)[1]}/hook", policy=strict)
        assert reply.error.startswith("refused target:") and reply.status_code is None, (odd, reply.error)

    # A name with one refused address among public ones is refused without naming it.
    port = int(base.rsplit(":", 1)[1])
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    reply = send(f"http://hooks.example.com:{port}/hook", policy=strict)
    assert reply.error == "refused target: hooks.example.com resolves to a private or reserved address"
    assert seen == []


def test_a_name_connects_to_the_address_it_was_checked_for(receiver, monkeypatch):
    base, seen = receiver
    port = int(base.rsplit(":", 1)[1])
    asked = []

    def resolve(host, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    reply = send(f"http://crm.example.com:{port}/hook")
    assert reply.status_code == 200 and asked == ["crm.example.com"]
    assert seen[0]["headers"]["Host"] == f"crm.example.com:{port}"


def test_an_answer_in_time_counts_whatever_the_caller_was_doing(receiver):
    """The loop reads answers on a thread of its own: a caller busy elsewhere (writing outcomes)
    while its call is answered does not turn an answer in time into a timeout."""
    base, seen = receiver
    future = aio.submit(aio.post(base + "/hook", b"{}", {}, 0.5, LOCAL))
    time.sleep(1.0)  # the claiming thread at its database, past the call's deadline
    reply = future.result(timeout=5)
    assert (reply.status_code, reply.error) == (200, None) and len(seen) == 1


def test_calls_can_be_made_from_a_thread_running_an_event_loop_of_its_own(receiver):
    import asyncio

    base, seen = receiver

    async def inside():  # a caller inside asyncio code (a browser test's thread, say)
        return send(base + "/hook")

    assert asyncio.run(inside()).status_code == 200


def test_the_deadline_cuts_headers_and_bodies(trickler_factory):
    for head in (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"):
        server = trickler_factory(head)
        started = time.monotonic()
        reply = send(server.url, timeout=0.3)
        assert time.monotonic() - started < 1.0
        assert reply.error == "timed out: no complete response within 0.3 s"


def test_a_peer_that_closes_or_speaks_no_http_is_told_in_our_words():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    answers = [b"", b"SSH-2.0-OpenSSH_9.6 <secret banner>\r\n"]

    def serve():
        for answer in answers:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    assert send(url).error == "connection failed: the connection was closed before an answer"
    reply = send(url)
    assert reply.error == "connection failed: the answer was not HTTP" and "secret" not in reply.error
    listener.close()


def test_a_deadline_over_five_seconds_is_not_rounded_up(trickler_factory):
    server = trickler_factory(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    started = time.monotonic()
    reply = send(server.url, timeout=5.2)
    took = time.monotonic() - started
    assert reply.error == "timed out: no complete response within 5.2 s" and 5.1 < took < 5.6


def test_a_name_server_that_never_answers_holds_up_no_other_target(receiver, monkeypatch):
    base, seen = receiver
    port = int(base.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host.startswith("slow"):
            time.sleep(2.5)
            raise socket.gaierror("no answer")
        if host == "crm.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    stuck = [aio.submit(aio.post(f"http://slow{n}.example.com/hook", b"{}", {}, 1.0, LOCAL)) for n in range(20)]
    reply = send(f"http://crm.example.com:{port}/hook", timeout=1.5)
    assert (reply.status_code, reply.error) == (200, None)
    assert all(f.result(timeout=5).error.startswith("timed out") for f in stuck)
