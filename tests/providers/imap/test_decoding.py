"""Reading what an IMAP server hands over, without a server: encoded headers, bodies in any
transfer encoding or charset, impossible dates, and a message no codec can read, which does not
stop the rest of its folder."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from vani.providers.imap import client as imap_client
from vani.providers.imap import sync as imap_sync


def test_headers_and_snippets_are_decoded_safely():
    assert imap_client.decoded(b"=?iso-8859-1?q?Caf=E9?= =?utf-8?b?w6k=?=") == "Caféé"
    assert imap_client.decoded(b"=?x-unknown?q?abc?= ok") == "=?x-unknown?q?abc?= ok"  # kept as it came
    assert imap_client.decoded(b"Na\xefve \xff bytes\x00") == "Na\xefve \xff bytes"  # not UTF-8: Latin-1
    assert imap_client.decoded(b"=?utf-8?b?!!!?= Re: hi") == "Re: hi"  # a broken encoded word: no error
    body = "Olá, tudo bem? ".encode() * 40
    encoded = base64.encodebytes(body)[:600]
    assert imap_client.snippet(encoded, False, b"base64", "utf-8").startswith("Olá, tudo bem? Olá")
    assert imap_client.snippet(b"caf=C3=A9 =\r\nand more caf=C3=", False, b"quoted-printable", "utf-8") == \
        "café and more caf"
    html = b"<style>p{}</style><p>Hello&nbsp;<b>there</b></p><p>cut <a href='x"
    assert imap_client.snippet(html, True, b"7bit", "bogus-charset") == "Hello there cut"
    assert imap_client.snippet(b"\xff\xfe bad", False, b"8bit", "utf-8") == "\ufffd\ufffd bad"
    assert len(imap_client.snippet(b"word " * 200, False, b"7bit", "us-ascii")) == 200


def test_impossible_dates_and_charsets_are_read_not_raised():
    assert imap_client.as_utc(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1)))) is None
    assert imap_client.snippet(b"hello there", False, b"7bit", "idna") == "hello there"
    assert imap_client.snippet(b"hi", False, b"7bit", "no-such-charset") == "hi"


def test_one_unreadable_message_does_not_stop_its_folder(monkeypatch):
    class Client:
        def fetch(self, uids, items):
            return {uid: {b"INTERNALDATE": datetime(2026, 11, 29, 9, uid, tzinfo=timezone.utc),
                          b"BODYSTRUCTURE": ()} for uid in uids}

    real = imap_sync.email_in

    def email_in(answer, folder, uidvalidity, uid, outbound, snippet):
        if uid == 2:
            raise UnicodeError("a header no codec can read")
        return real(answer, folder, uidvalidity, uid, outbound, snippet)

    monkeypatch.setattr(imap_sync, "email_in", email_in)
    items = imap_sync.fetch(Client(), [1, 2, 3], "INBOX", 7, False)
    assert [i.provider_message_id for i in items] == ["INBOX/7/1", "INBOX/7/2", "INBOX/7/3"]
    assert items[1].from_address is None and items[1].date == datetime(2026, 11, 29, 9, 2, tzinfo=timezone.utc)
