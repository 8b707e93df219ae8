"""Entry point: ``gunicorn run:app``, ``flask --app run …``, and ``python run.py`` for development."""
from __future__ import annotations

from vani import create_app

app = create_app()

if __name__ == "__main__":  # pragma: no cover - the development runner
    from vani.devserver import main

    raise SystemExit(main())
