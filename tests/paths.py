"""Where the tests find the project, its migrations and the shared provider payloads."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "providers"
MIGRATIONS = ROOT / "migrations"


def shared_fixture_dir(provider: str) -> Path:
    path = SHARED_FIXTURES / provider
    if not path.is_dir():
        pytest.skip(f"shared provider fixtures not present at {path}")
    return path
