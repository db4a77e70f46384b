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
    """The HMAC key of a secret.

    A ``whsec_<base64>`` secret is used as Standard Webhooks defines it: the key is
    the base64-decoded part. Any other secret (one a user chose, "can be any
    value") signs with its UTF-8 bytes.
    """
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
    return secret.encode("utf-8")


def standard_secret(secret: str) -> str:
    """The secret as the ``standardwebhooks`` library takes it: ``whsec_`` + base64 of the key.

    A receiver verifying a chosen (non-whsec) secret passes this value to the
    library: ``"whsec_" + base64(secret.encode())``.
    """
    if secret.startswith(SECRET_PREFIX):
        return secret
    return SECRET_PREFIX + base64.b64encode(secret_key(secret)).decode()


def standard_signature(*, secrets_: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per secret, space separated.

    During a rotation both the new and the previous secret sign, so receivers that
    still hold the old one keep verifying.
    """
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(StandardWebhook(standard_secret(s)).sign(msg_id, moment, body) for s in secrets_)


def body_signature(*, secret: str, body: bytes) -> str:
    """One hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()


def body_signatures(*, secrets_: list[str], body: bytes) -> str:
    """The ``X-Webhook-Signature`` value: the hex HMAC-SHA256 of the raw body per secret.

    Comma separated, the current secret first: during a rotation's overlap a
    receiver that checks this header still holding the previous secret keeps
    verifying (it accepts the request when any of the values matches).
    """
    return ",".join(body_signature(secret=s, body=body) for s in secrets_)


def secret_hash(secret: str) -> str:
    """The hex SHA-256 of the secret's text, for the secret hash header."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


MASK_BULLET = "\u2022"


def mask(value: str, *, keep: int = 4) -> str:
    """A hint of a secret for display: bullets and its last characters."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return MASK_BULLET * 8
    return MASK_BULLET * 8 + value[-keep:]
