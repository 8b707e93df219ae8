"""Entry point: ``gunicorn run:app``, ``flask --app run …``, and ``python run.py`` (``make run``) for
development, the one way in that defaults to development settings."""
from __future__ import annotations

if __name__ == "__main__":  # pragma: no cover - the development runner
    from vani.devserver import main

    raise SystemExit(main())

from vani import create_app  # noqa: E402

app = create_app()
