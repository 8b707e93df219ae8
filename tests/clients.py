"""Ways the tests talk to the app: a fresh-context test client and its CSRF token, the
dashboard's event stream, and the ``vani webhooks`` command."""
from __future__ import annotations


def csrf_token_from(client, path: str = "/dashboard/login") -> str:
    """The CSRF token of the client's session, read from a rendered form."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def fresh_client(app):
    """A test client whose every request gets its own app context (so ``g``, where Flask-Login
    keeps the signed-in user, never carries over between requests as it would under the
    ``app`` fixture's long-lived context)."""
    from flask.testing import FlaskClient

    class FreshContextClient(FlaskClient):
        def open(self, *args, **kwargs):
            with self.application.app_context():
                return super().open(*args, **kwargs)

    return FreshContextClient(app, app.response_class, use_cookies=True)


def open_stream(client):
    r = client.get("/dashboard/stream", buffered=False)
    assert r.status_code == 200
    assert r.mimetype == "text/event-stream"
    return r, iter(r.response)


def read_until(chunks, needle: str, limit: int = 50) -> str:
    seen = ""
    for _ in range(limit):
        seen += next(chunks).decode()
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} not in {seen!r}")


def run(app, *args):
    """Invoke ``flask vani webhooks <args>``; the click result."""
    return app.test_cli_runner().invoke(args=["vani", "webhooks", *args])
