"""Encryption of secrets at rest (API keys, signing secrets) with Fernet."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .exceptions import ImproperlyConfiguredWebhooks

PREFIX = "fernet:"
_fernet = None


def reset():
    global _fernet
    _fernet = None


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY (used when ENCRYPTION_KEYS is empty)."""
    digest = hashlib.sha256(b"webhooks_app.crypto:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def fernet() -> MultiFernet:
    global _fernet
    if _fernet is None:
        from .conf import app_settings

        keys = list(app_settings.ENCRYPTION_KEYS) or [derived_key(settings.SECRET_KEY)]
        try:
            _fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfiguredWebhooks(
                "WEBHOOKS['ENCRYPTION_KEYS'] must hold Fernet keys (Fernet.generate_key()): " + str(exc)
            ) from exc
    return _fernet


def encrypt(value: str) -> str:
    if not value:
        return value
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value or not value.startswith(PREFIX):
        return value
    try:
        return fernet().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfiguredWebhooks(
            "A stored webhook secret cannot be decrypted: SECRET_KEY or "
            "WEBHOOKS['ENCRYPTION_KEYS'] changed without keeping the old key."
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt a stored value with the first key (for key rotation)."""
    if not value or not value.startswith(PREFIX):
        return encrypt(value)
    return PREFIX + fernet().rotate(value[len(PREFIX) :].encode()).decode()
