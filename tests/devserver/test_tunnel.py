"""Finding the public URL: PUBLIC_URL, a running ngrok agent (a fake one on loopback), pyngrok."""
from __future__ import annotations

import pytest

from vani import tunnel
from vani.tunnel import Tunnel, TunnelWatcher, discover, ngrok_agent_url

NO_AGENT = "http://127.0.0.1:9"


def agent(httpserver, *tunnels: tuple[str, str]) -> str:
    httpserver.expect_request("/api/tunnels").respond_with_json({"tunnels": [
        {"name": f"t{i}", "public_url": public, "proto": public.split(":")[0], "config": {"addr": addr}}
        for i, (public, addr) in enumerate(tunnels)], "uri": "/api/tunnels"})
    return httpserver.url_for("").rstrip("/")


def test_agent_tunnel_for_our_port_prefers_https(httpserver):
    url = agent(httpserver, ("http://abc.ngrok-free.app", "http://localhost:8000"),
                ("https://other.ngrok-free.app", "http://localhost:5000"),
                ("https://abc.ngrok-free.app", "http://localhost:8000"))
    assert ngrok_agent_url(url, 8000) == ("https://abc.ngrok-free.app", None)


@pytest.mark.parametrize("addr", ["8000", "localhost:8000", "127.0.0.1:8000", "https://localhost:8000"])
def test_agent_addr_spellings(httpserver, addr):
    url = agent(httpserver, ("https://abc.ngrok-free.app", addr))
    assert ngrok_agent_url(url, 8000)[0] == "https://abc.ngrok-free.app"


def test_agent_for_another_port_is_named_not_used(httpserver):
    url = agent(httpserver, ("https://other.ngrok-free.app", "http://localhost:5000"))
    found, note = ngrok_agent_url(url, 8000)
    assert found is None and "not for port 8000" in note and "other.ngrok-free.app -> port 5000" in note


def test_no_agent():
    assert ngrok_agent_url(NO_AGENT, 8000) == (None, None)


def test_discover_order(httpserver):
    url = agent(httpserver, ("https://abc.ngrok-free.app", "http://localhost:8000"))
    assert discover("https://vani.example.com/", url, 8000) == Tunnel("https://vani.example.com", "PUBLIC_URL")
    assert discover(None, url, 8000) == Tunnel("https://abc.ngrok-free.app", "ngrok agent")
    nothing = discover(None, NO_AGENT, 8000)
    assert nothing.url is None and "ngrok http 8000" in nothing.note and "NGROK_AUTHTOKEN" in nothing.note


def test_pyngrok_is_only_started_with_a_token_and_when_asked(monkeypatch):
    started = []
    monkeypatch.setattr(tunnel, "start_pyngrok", lambda port, token: started.append((port, token)) or
                        "https://fresh.ngrok-free.app")
    assert discover(None, NO_AGENT, 8000, authtoken=None, start_ngrok=True).url is None
    assert discover(None, NO_AGENT, 8000, authtoken="tok", start_ngrok=False).url is None
    found = discover(None, NO_AGENT, 8000, authtoken="tok", start_ngrok=True)
    assert found == Tunnel("https://fresh.ngrok-free.app", "pyngrok") and started == [(8000, "tok")]


def test_pyngrok_failure_is_explained(monkeypatch):
    from pyngrok import ngrok

    def refuse(*args, **kwargs):
        raise OSError("download of the ngrok binary failed")

    monkeypatch.setattr(ngrok, "connect", refuse)
    found = discover(None, NO_AGENT, 8000, authtoken="tok", start_ngrok=True)
    assert found.url is None
    assert "could not start ngrok through pyngrok: download of the ngrok binary failed" in found.note
    assert "PUBLIC_URL" in found.note


def test_watcher_reports_changes_once(httpserver):
    url = agent(httpserver, ("https://first.ngrok-free.app", "localhost:8000"))
    changes = []
    watcher = TunnelWatcher(lambda: discover(None, url, 8000).url, lambda old, new: changes.append((old, new)),
                            "https://first.ngrok-free.app")
    assert watcher.check() is False
    httpserver.clear()
    agent(httpserver, ("https://second.ngrok-free.app", "localhost:8000"))  # ngrok restarted
    assert watcher.check() is True and watcher.check() is False
    httpserver.clear()  # ngrok stopped
    assert watcher.check() is True
    assert changes == [("https://first.ngrok-free.app", "https://second.ngrok-free.app"),
                       ("https://second.ngrok-free.app", None)]


def test_watcher_thread_polls_and_stops():
    values = iter(["https://a.ngrok-free.app", "https://b.ngrok-free.app"] + ["https://b.ngrok-free.app"] * 1000)
    seen = []
    watcher = TunnelWatcher(lambda: next(values), lambda old, new: seen.append(new), None, interval=0.01)
    watcher.start()
    for _ in range(200):
        if len(seen) == 2:
            break
        watcher._stop_event.wait(0.01)
    watcher.stop()
    watcher.join(2)
    assert seen == ["https://a.ngrok-free.app", "https://b.ngrok-free.app"] and not watcher.is_alive()
