"""IMAPClient connecting through the guard: the server's name is resolved and checked, the
connection pinned to a checked address, and TLS (SSL or STARTTLS) still verifies the
certificate against the name, SNI included."""
from __future__ import annotations

import imapclient
from imapclient import imap4, tls

from vani.egress.guard import connect
from vani.egress.policy import Kind


class _Plain(imap4.IMAP4WithTimeout):
    def _create_socket(self, timeout=None):
        return connect(self.host, self.port, timeout if timeout is not None else self._timeout, Kind.IMAP)


class _TLS(tls.IMAP4_TLS):
    def _create_socket(self, timeout=None):
        sock = connect(self.host, self.port, timeout if timeout is not None else self._timeout, Kind.IMAP)
        try:
            return tls.wrap_socket(sock, self.ssl_context, self.host)
        except BaseException:
            sock.close()
            raise


class IMAPClient(imapclient.IMAPClient):
    """``imapclient.IMAPClient`` whose connection goes out through the guard (no ``stream`` mode)."""

    def _create_IMAP4(self):
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TLS(self.host, self.port, self.ssl_context, timeout)
        return _Plain(self.host, self.port, timeout)
