"""Secrets at rest: every stored secret (provider signing secrets, subscription secrets, OAuth
tokens, the API answers kept for idempotent repeats) is encrypted with ``cryptography``'s
MultiFernet under ``VANI_ENCRYPTION_KEYS``.

The keys are a comma-separated list: the first encrypts, every one decrypts, so a key is rotated
by putting a new one first and running ``flask vani rotate-encryption-key`` (which re-encrypts
every stored secret with it) before the old one is dropped. Development without the setting uses
a key generated once into ``instance/encryption.key``; production refuses to start without it.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, type_coerce
from sqlalchemy.types import TypeDecorator

KEY_FILE = "encryption.key"
TESTING_KEY = "dGVzdGluZy1rZXktbm90LWZvci1wcm9kdWN0aW9uISE="  # 32 bytes, base64: tests only


class SecretUnreadable(ValueError):
    """A stored secret none of the configured keys can decrypt."""


def parse_keys(spec: str | None) -> list[str]:
    return [k.strip() for k in (spec or "").split(",") if k.strip()]


def check_keys(spec: str | None) -> str | None:
    """Why ``spec`` cannot be used (None when it can)."""
    keys = parse_keys(spec)
    if not keys:
        return "VANI_ENCRYPTION_KEYS is not set"
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return f"key {i} of VANI_ENCRYPTION_KEYS is not a Fernet key (32 url-safe base64-encoded bytes)"
    return None


def development_keys(instance: Path) -> str:
    """The development key from ``instance/encryption.key``, generated (mode 0600) on first use."""
    path = instance / KEY_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")
    return path.read_text().strip()


def _fernet() -> MultiFernet:
    spec = current_app.config.get("VANI_ENCRYPTION_KEYS") or ""
    cache = current_app.extensions.setdefault("vani_fernet", {})
    if spec not in cache:
        problem = check_keys(spec)
        if problem:
            raise SecretUnreadable(f"{problem}: stored secrets cannot be read or written")
        cache[spec] = MultiFernet([Fernet(k) for k in parse_keys(spec)])
    return cache[spec]


def encrypt(text: str) -> str:
    return encrypt_bytes(text.encode())


def decrypt(token: str) -> str:
    return decrypt_bytes(token).decode()


def encrypt_bytes(data: bytes) -> str:
    return _fernet().encrypt(data).decode()


def decrypt_bytes(token: str) -> bytes:
    try:
        return _fernet().decrypt(token.encode())
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with VANI_ENCRYPTION_KEYS "
                               "(was the key it was written with removed?)") from None


def rotate(token: str) -> str:
    """The same secret encrypted with the first key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with VANI_ENCRYPTION_KEYS") from None


def token(column):
    """``column`` as stored (its Fernet token, not decrypted), for reading values one by one so
    that one no key can read fails alone instead of the whole query."""
    return type_coerce(column, Text)


def readable(token_text: str) -> str | None:
    """The secret in ``token_text``; None when none of the keys can decrypt it."""
    try:
        return decrypt(token_text)
    except SecretUnreadable:
        return None


class Encrypted(TypeDecorator):
    """A text column stored encrypted: plain ``str`` in Python, a Fernet token in the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)


class EncryptedBytes(Encrypted):
    """A bytes column stored encrypted: ``bytes`` in Python, a Fernet token (text) in the
    database, so key rotation treats it as every other ``Encrypted`` column."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt_bytes(bytes(value))

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt_bytes(value)
