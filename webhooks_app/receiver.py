"""Helpers for Python receivers of webhooks_app's requests (no Django needed).

``decrypt(key, value)`` undoes payload encryption (``"is_encrypted": true``):

    from webhooks_app.receiver import decrypt
    body = json.loads(request.body)
    data = decrypt(ENCRYPTION_KEY, body["data"]) if body.get("is_encrypted") else body["data"]

Verify the signature first (it covers the bytes as sent, encrypted data included).
"""

import base64
import binascii
import json

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


class DecryptionError(ValueError):
    """The value is not one this key encrypted (wrong key, altered or truncated value)."""


def decrypt(key: str | bytes, value: str):
    """The event ``data`` from an encrypted payload's ``data`` value.

    ``key`` is the webhook's encryption key as shown (base64 text) or its 32 raw
    bytes; ``value`` is base64(nonce[12] + ciphertext + tag[16]). Returns the
    decoded JSON (usually a dict). Raises DecryptionError when the key does not
    open it.
    """
    if isinstance(key, str):
        try:
            key = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("The key is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise DecryptionError(f"The key must be {KEY_BYTES} bytes, not {len(key)}.")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DecryptionError("The value is not valid base64.") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("The value is too short to hold a nonce and a tag.")
    try:
        plaintext = AESGCM(bytes(key)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
    except InvalidTag:
        raise DecryptionError("The key does not decrypt this value (wrong key or altered data).") from None
    return json.loads(plaintext.decode("utf-8"))
