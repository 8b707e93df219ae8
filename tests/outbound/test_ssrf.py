"""SSRF guard: refused ranges (IPv4, IPv6, mapped), DNS names resolving privately, checked at
creation and again at send time; connections are pinned to the checked address."""
from __future__ import annotations

import pytest

from tests.outbound.helpers import attempts, deliver, delivery, emit, subscribe
from vani.egress import blocked_reason
from vani.outbound import InvalidField, update_subscription

REFUSED = ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
           "169.254.169.254", "224.0.0.1", "239.255.255.250", "0.0.0.0", "100.64.0.1", "240.0.0.1",
           "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
           "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
           "64:ff9b::a00:1", "2001:db8::1", "fec0::1", "::7f00:1", "::ffff:0:7f00:1", "2001::1", "198.18.0.1"]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("ip", REFUSED)
def test_refused_addresses(ip):
    assert blocked_reason(ip)


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses(ip):
    assert blocked_reason(ip) is None


@pytest.fixture
def no_private(app):
    app.config["VANI_ALLOW_PRIVATE_TARGETS"] = False
    return app


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "https://10.0.0.8/hook", "http://[::1]:8080/hook", "http://[fe80::1]/",
    "http://[::ffff:7f00:1]/hook", "http://[::ffff:192.168.0.1]/", "http://169.254.169.254/latest/meta-data",
    "http://localhost:9000/", "http://api.localhost/", "http://0.0.0.0/",
])
def test_subscription_urls_in_refused_ranges_are_rejected(no_private, url):
    with pytest.raises(InvalidField) as info:
        subscribe(url)
    assert info.value.field == "url" and "refused" in info.value.reason


@pytest.mark.parametrize("ip", ["10.0.0.5", "127.0.0.1", "fd00::5", "::ffff:127.0.0.1", "169.254.169.254"])
def test_dns_names_resolving_privately_are_rejected(no_private, dns, ip):
    dns["hooks.example.test"] = ip
    with pytest.raises(InvalidField) as info:
        subscribe("https://hooks.example.test/hook")
    assert info.value.reason == "refused: hooks.example.test resolves to a private or reserved address"
    assert ip not in info.value.reason  # the internal address a name maps to is not told


def test_public_names_are_accepted_and_bad_urls_rejected(no_private, dns):
    dns["hooks.example.test"] = "93.184.216.34"
    sub, _ = subscribe("https://hooks.example.test/hook")
    assert sub.id
    for bad in ("ftp://hooks.example.test/", "hooks.example.test/hook", "http:///nohost", ""):
        with pytest.raises(InvalidField):
            subscribe(bad)
    with pytest.raises(InvalidField):  # changing the URL is checked too
        update_subscription(sub.id, url="http://10.0.0.1/")


def test_the_address_is_checked_again_at_send_time(no_private, dns, httpserver):
    """A name that resolved publicly at creation but privately when sending is refused, and no
    request reaches the (loopback) receiver."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    dns["hooks.example.test"] = "93.184.216.34"
    subscribe(f"http://hooks.example.test:{httpserver.port}/hook")
    dns["hooks.example.test"] = "127.0.0.1"  # DNS rebinding
    [delivery_id] = emit()
    deliver()
    d = delivery(delivery_id)
    assert d.status == "pending" and d.last_status_code is None
    assert d.last_error == "refused target: hooks.example.test resolves to a private or reserved address"
    assert attempts(delivery_id)[0].error == d.last_error
    assert httpserver.log == []


def test_private_targets_allowed_in_testing_and_connection_uses_the_checked_address(app, dns, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    assert app.config["VANI_ALLOW_PRIVATE_TARGETS"]  # default outside production
    dns["receiver.example.test"] = "127.0.0.1"
    subscribe(f"http://receiver.example.test:{httpserver.port}/hook")
    [delivery_id] = emit()
    deliver()
    assert delivery(delivery_id).status == "delivered"
    [(request, _)] = httpserver.log
    assert request.headers["host"] == f"receiver.example.test:{httpserver.port}"


def test_ip_literal_refused_at_send_time_when_the_setting_changed(app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(httpserver.url_for("/hook"))  # allowed while creating
    app.config["VANI_ALLOW_PRIVATE_TARGETS"] = False
    [delivery_id] = emit()
    deliver()
    assert "refused" in delivery(delivery_id).last_error
    assert httpserver.log == []


@pytest.mark.parametrize("url", ["https://crm.example.com:22/hook", "http://crm.example.com:25/",
                                 "http://crm.example.com:1023/", "http://crm.example.com:0/"])
def test_only_web_ports_are_allowed(app, db, url):
    from vani.models import WebhookSubscription

    with pytest.raises(InvalidField, match="port .* is refused"):
        subscribe(url)
    assert db.session.query(WebhookSubscription).count() == 0


def test_web_ports_pass_and_any_port_can_be_allowed(app, dns):
    dns["crm.example.com"] = "93.184.216.34"
    for url in ("https://crm.example.com/hook", "http://crm.example.com:80/", "https://crm.example.com:8443/x"):
        sub, _ = subscribe(url)
        assert sub.id and sub.url == url
    app.config["VANI_ALLOW_ANY_PORT"] = True
    sub, _ = subscribe("https://crm.example.com:22/hook")
    assert sub.id and sub.url == "https://crm.example.com:22/hook"


def test_a_stored_url_on_a_refused_port_is_not_called(app, httpserver):
    sub, _ = subscribe(httpserver.url_for("/hook"))
    from vani.extensions import db
    from vani.models import WebhookSubscription

    db.session.get(WebhookSubscription, sub.id).url = "http://127.0.0.1:25/hook"  # saved before the rule
    db.session.commit()
    [delivery_id] = emit()
    deliver()
    assert delivery(delivery_id).last_error.startswith("refused target: port 25 is refused")
    assert len(httpserver.log) == 0
