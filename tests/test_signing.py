"""Signing helpers: Standard Webhooks signatures, the hex body signature, secrets."""

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks_app import signing

# The published example of the Standard Webhooks specification (and Svix's test suite).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(msg_id, timestamp, signature):
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_specification_example_signs_to_the_published_value():
    signature = signing.standard_signature(
        secrets_=[SPEC_SECRET], msg_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
    )
    assert signature == SPEC_SIGNATURE


def test_a_signature_verifies_with_the_standardwebhooks_library():
    secret = signing.secret_generate()
    now = int(time.time())
    body = '{"id":"evt_1","data":{"name":"Zoë ✓"}}'

    signature = signing.standard_signature(secrets_=[secret], msg_id="evt_1", timestamp=now, body=body)

    assert StandardWebhook(secret).verify(body.encode(), headers("evt_1", now, signature)) == {
        "id": "evt_1",
        "data": {"name": "Zoë ✓"},
    }
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body.replace("1", "2"), headers("evt_1", now, signature))
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body, headers("evt_2", now, signature))
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(signing.secret_generate()).verify(body, headers("evt_1", now, signature))


def test_two_secrets_give_two_signatures_and_either_verifies():
    old, new = signing.secret_generate(), signing.secret_generate()
    now = int(time.time())

    signature = signing.standard_signature(secrets_=[new, old], msg_id="evt_1", timestamp=now, body="{}")

    assert len(signature.split(" ")) == 2
    assert all(part.startswith("v1,") for part in signature.split(" "))
    for secret in (old, new):
        StandardWebhook(secret).verify("{}", headers("evt_1", now, signature))


def test_the_timestamp_is_signed_as_unix_seconds():
    secret = signing.secret_generate()
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stamp = int(moment.timestamp())
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"evt_1.{stamp}.{{}}".encode(), hashlib.sha256).digest())

    signature = signing.standard_signature(secrets_=[secret], msg_id="evt_1", timestamp=stamp, body="{}")

    assert signature == "v1," + expected.decode()


def test_body_signature_is_the_hex_hmac_of_the_raw_body():
    secret = signing.secret_generate()
    body = '{"name":"Zoë"}'.encode()
    key = base64.b64decode(secret.removeprefix("whsec_"))

    value = signing.body_signature(secret=secret, body=body)

    assert value == hmac.new(key, body, hashlib.sha256).hexdigest()
    assert len(value) == 64 and int(value, 16) >= 0
    assert signing.body_signature(secret=secret, body=body + b" ") != value


def test_generated_secrets_are_whsec_with_24_to_64_random_bytes():
    secrets = {signing.secret_generate() for _ in range(20)}

    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert 24 <= len(raw) <= 64
        assert signing.secret_key(secret) == raw


def test_secret_key_accepts_a_secret_without_prefix_or_padding():
    raw = bytes(range(25))
    encoded = base64.b64encode(raw).decode()

    assert signing.secret_key("whsec_" + encoded) == raw
    assert signing.secret_key("whsec_" + encoded.rstrip("=")) == raw
    # Without the prefix a secret is a chosen one: it signs with its UTF-8 bytes (issue 10).
    assert signing.secret_key(encoded) == encoded.encode()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("", ""),
        ("short", "\u2022" * 8),
        ("12345678", "\u2022" * 8),
        ("sk_live_abcdef1234", "\u2022" * 8 + "1234"),
    ],
)
def test_mask_shows_only_the_last_characters_of_a_long_secret(value, shown):
    assert signing.mask(value) == shown
