"""Signing helpers (pure, no ORM): Standard Webhooks plus a hex body signature."""

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook as StandardWebhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the base64-decoded part)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw + "==")


def standard_signature(*, secrets_: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per secret, space separated.

    During a rotation both the new and the previous secret sign, so receivers that
    still hold the old one keep verifying.
    """
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(StandardWebhook(s).sign(msg_id, moment, body) for s in secrets_)


def body_signature(*, secret: str, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()


def mask(value: str, *, keep: int = 4) -> str:
    """A hint of a secret for display: bullets and its last characters."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return "\u2022" * 8
    return "\u2022" * 8 + value[-keep:]
