"""Encryption of secrets at rest (API keys, signing secrets) with Fernet."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed

from .exceptions import ImproperlyConfiguredWebhooks

PREFIX = "fernet:"
_fernet = None


def reset(**kwargs):
    global _fernet
    _fernet = None


def _settings_changed(*, setting, **kwargs):
    if setting in ("WEBHOOKS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        reset()


setting_changed.connect(_settings_changed, dispatch_uid="webhooks_app.crypto")


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY (used when ENCRYPTION_KEYS is empty)."""
    digest = hashlib.sha256(b"webhooks_app.crypto:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def keys() -> list:
    """The Fernet keys in use: the first encrypts, every one decrypts.

    WEBHOOKS['ENCRYPTION_KEYS'] when set; otherwise keys derived from SECRET_KEY and
    then from each of SECRET_KEY_FALLBACKS, so rotating SECRET_KEY the Django way
    (the old key moved to the fallbacks) keeps stored secrets readable until
    ``webhooks_rotate_encryption`` has re-encrypted them.
    """
    from .conf import app_settings

    configured = list(app_settings.ENCRYPTION_KEYS or ())
    if configured:
        return configured
    fallbacks = list(getattr(settings, "SECRET_KEY_FALLBACKS", None) or ())
    return [derived_key(k) for k in [settings.SECRET_KEY, *fallbacks]]


def fernet() -> MultiFernet:
    global _fernet
    current = keys()
    if _fernet is None or _fernet[0] != current:
        try:
            _fernet = (current, MultiFernet([Fernet(k) for k in current]))
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfiguredWebhooks(
                "WEBHOOKS['ENCRYPTION_KEYS'] must hold Fernet keys (Fernet.generate_key()): " + str(exc)
            ) from exc
    return _fernet[1]


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
