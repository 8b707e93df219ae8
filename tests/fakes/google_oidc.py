"""Google as a signer of Pub/Sub push tokens: its key and certificate, and the OIDC tokens it signs."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

KID = "f5f0a8d2c1e9b7a6"
SERVICE_ACCOUNT = "gmail-push@vani-test.iam.gserviceaccount.com"
AUDIENCE = "https://vani.example.com/api/webhooks/gmail"


def key_and_certificate() -> tuple[bytes, str]:
    """An RSA key (PEM) and its self-signed certificate (PEM), as Google publishes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=14)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


KEY, CERTIFICATE = key_and_certificate()


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "azp": "1178", "sub": "1178",
            "email": SERVICE_ACCOUNT, "email_verified": True, "iat": now, "exp": now + 3600}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def sign(payload: dict, key: bytes = KEY, kid: str = KID) -> str:
    return jwt.encode(crypt.RSASigner.from_string(key, key_id=kid), payload).decode()
