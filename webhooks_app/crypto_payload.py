"""Payload encryption (AES-256-GCM) of an event's ``data``: the sending side.

The layout is the public contract receivers decrypt (docs/receivers.md "Encrypted payloads",
webhooks_app.receiver): ``data`` becomes the standard base64 (with padding) of
``nonce (12 bytes) + ciphertext + tag (16 bytes)``, where the plaintext is the UTF-8
JSON of ``data`` and there is no associated data. A fresh random nonce per body.
"""

import base64
import binascii
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "aes-256-gcm"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def key_generate() -> str:
    """A new payload encryption key: 32 random bytes, standard base64."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_bytes(key: str | bytes) -> bytes:
    """The 32 raw bytes of a key given as its base64 text (as shown) or as raw bytes."""
    if isinstance(key, str):
        try:
            key = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("The encryption key is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"The encryption key must be {KEY_BYTES} bytes (AES-256), not {len(key)}.")
    return bytes(key)


def data_encrypt(key: str | bytes, data, *, nonce: bytes | None = None) -> str:
    """base64(nonce + ciphertext + tag) of the UTF-8 JSON of ``data``.

    ``nonce`` is for the documented worked example and tests only: a nonce must
    never be reused with the same key.
    """
    plaintext = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"The nonce must be {NONCE_BYTES} bytes.")
    sealed = AESGCM(key_bytes(key)).encrypt(nonce, plaintext, None)  # ciphertext + 16-byte tag
    return base64.b64encode(nonce + sealed).decode("ascii")


def envelope_encrypt(payload: dict, *, key: str | bytes) -> dict:
    """The envelope with ``"is_encrypted": true`` and ``data`` encrypted; the rest stays readable."""
    encrypted = {name: value for name, value in payload.items() if name != "data"}
    encrypted["is_encrypted"] = True
    encrypted["data"] = data_encrypt(key, payload.get("data", {}))
    return encrypted
