"""Settings: every one Vani reads is documented in .env.example, the docs name only real ones, and
the tests never read a developer's .env."""
from __future__ import annotations

import os
import re
from pathlib import Path

import config
from vani import create_app

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = ("VANI", "CALENDLY", "CAL_COM", "KAPSO", "TWILIO", "GMAIL", "SLACK", "SMTP", "GUNICORN", "NGROK",
            "PUBLIC", "REDIS", "DATABASE", "SECRET", "WEB", "FORWARDED", "FLASK")
SETTING = re.compile(r"\b((?:%s)_[A-Z0-9_]+)\b" % "|".join(PREFIXES))


def read_by_config() -> set[str]:
    """The environment variables config.py reads (``_env``/``_flag``/``_int``, aliases included)."""
    source = (ROOT / "config.py").read_text()
    names = set(re.findall(r"_(?:env|flag|int)\(\"([A-Z][A-Z0-9_]+)\"", source))
    return names | set(re.findall(r"_env\(\"[A-Z0-9_]+\", [^,)]+, \"([A-Z][A-Z0-9_]+)\"", source))


def test_every_setting_is_in_env_example():
    example = (ROOT / ".env.example").read_text()
    names = read_by_config()
    assert {"DATABASE_URL", "REDIS_URL", "CALENDLY_WEBHOOK_SECRET", "VANI_RETENTION_DAYS"} <= names
    assert sorted(n for n in names if n not in example) == []


def test_docs_name_only_settings_that_exist():
    code = " ".join(p.read_text() for p in [ROOT / "config.py", ROOT / "gunicorn.conf.py",
                                           *(ROOT / "vani").rglob("*.py")])
    documents = [ROOT / "README.md", ROOT / ".env.example", ROOT / "deploy" / "vani.env.example",
                 *(ROOT / "docs").rglob("*.md")]
    unknown = {f"{doc.relative_to(ROOT)}: {name}" for doc in documents
               for name in SETTING.findall(doc.read_text()) if f'"{name}"' not in code}
    assert sorted(unknown) == []


def test_tests_never_read_the_developers_env_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("VANI_SETTINGS_TEST_MARKER=from-dotenv\n")
    monkeypatch.setattr(config, "BASE_DIR", tmp_path)
    monkeypatch.delenv("VANI_ENV", raising=False)
    create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "VANI_SETTINGS_TEST_MARKER" not in os.environ
    try:  # any other environment reads it
        create_app({"VANI_ENV": "development", "TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
        assert os.environ.get("VANI_SETTINGS_TEST_MARKER") == "from-dotenv"
    finally:
        os.environ.pop("VANI_SETTINGS_TEST_MARKER", None)


def test_passwords_are_hashed_with_scrypt_outside_the_tests(app, monkeypatch):
    """Only the testing settings ask for a fast hash; production and development use scrypt, and
    a hash made either way is checked the same."""
    from config import ProductionConfig
    from vani.models import User

    assert app.config["VANI_PASSWORD_HASH_METHOD"].startswith("pbkdf2:")
    monkeypatch.setenv("VANI_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1")  # never read from the environment
    assert "VANI_PASSWORD_HASH_METHOD" not in vars(ProductionConfig())
    fast = User(email="fast@example.com")
    fast.set_password("password-123")
    monkeypatch.delitem(app.config, "VANI_PASSWORD_HASH_METHOD")
    slow = User(email="slow@example.com")
    slow.set_password("password-123")
    assert slow.password_hash.startswith("scrypt:") and fast.password_hash.startswith("pbkdf2:")
    assert slow.check_password("password-123") and fast.check_password("password-123")
