"""Encrypted payloads (AES-256-GCM): the engine, a real receiver, the API and the documented example."""

import base64
import contextlib
import hashlib
import hmac
import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.test import TestCase

from webhooks_app import crypto_payload, emit, services
from webhooks_app import receiver as helpers
from webhooks_app.models import Delivery, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

RECEIVERS_DOC = Path(__file__).resolve().parent.parent / "docs" / "receivers.md"


@contextlib.contextmanager
def committed():
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        yield


def documented_decrypt(key_b64: str, value: str) -> dict:
    """What docs/receivers.md tells a receiver in any language to do, with `cryptography` only."""
    raw = base64.b64decode(value)
    nonce, ciphertext_and_tag = raw[:12], raw[12:]
    plaintext = AESGCM(base64.b64decode(key_b64)).decrypt(nonce, ciphertext_and_tag, None)
    return json.loads(plaintext.decode("utf-8"))


def test_a_real_receiver_gets_readable_metadata_and_data_it_can_decrypt(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_encryption="aes-256-gcm")
    assert len(base64.b64decode(webhook.encryption_key)) == 32

    data = {"id": 42, "email": "åsa@example.com", "accepts_email": True}
    with committed():
        event = emit("contact.updated", data=data, context={"source": "test"})

    [request] = receiver.wait_for(1)
    body = request.verify(webhook.secret)  # the signature covers the bytes as sent
    assert body["id"] == event.pk and body["event_type"] == "contact.updated"
    assert body["current_context"]["source"] == "test" and body["event_time"].endswith("Z")
    assert body["is_encrypted"] is True
    assert list(body) == ["id", "event_type", "event_time", "current_context", "is_encrypted", "data"]
    assert isinstance(body["data"], str) and "example.com" not in request.body.decode()
    assert documented_decrypt(webhook.encryption_key, body["data"]) == data
    assert receiver_decrypt_matches(webhook.encryption_key, body["data"], data)
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def receiver_decrypt_matches(key, value, data) -> bool:
    return helpers.decrypt(key, value) == data and helpers.decrypt(base64.b64decode(key), value) == data


def test_xml_carries_the_same_fields(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_encryption="aes-256-gcm", payload_format="xml")
    with committed():
        emit("contact.updated", data={"id": 7})
    [request] = receiver.wait_for(1)
    key = base64.b64decode(webhook.secret.removeprefix("whsec_"))
    assert request.headers["X-Webhook-Signature"] == hmac.new(key, request.body, hashlib.sha256).hexdigest()
    root = ET.fromstring(request.body)
    assert root.findtext("is_encrypted") == "true"
    assert root.findtext("event_type") == "contact.updated"
    assert documented_decrypt(webhook.encryption_key, root.findtext("data")) == {"id": 7}


def test_each_body_has_its_own_nonce_and_other_webhooks_get_clear_data(make_webhook, receiver):
    encrypted = make_webhook(receiver.url, name="enc", payload_encryption="aes-256-gcm")
    make_webhook(receiver.url, name="clear")
    with committed():
        emit("contact.updated", data={"id": 1})
    bodies = [r.json() for r in receiver.wait_for(2)]
    clear = next(b for b in bodies if "is_encrypted" not in b)
    sealed = next(b for b in bodies if b.get("is_encrypted"))
    assert clear["data"] == {"id": 1}
    assert helpers.decrypt(encrypted.encryption_key, sealed["data"]) == {"id": 1}
    again = crypto_payload.data_encrypt(encrypted.encryption_key, {"id": 1})
    assert again != sealed["data"]  # a fresh nonce every time


def test_a_wrong_key_or_altered_value_is_refused():
    key = crypto_payload.key_generate()
    value = crypto_payload.data_encrypt(key, {"a": 1})
    with pytest.raises(helpers.DecryptionError):
        helpers.decrypt(crypto_payload.key_generate(), value)
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1
    with pytest.raises(helpers.DecryptionError):
        helpers.decrypt(key, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(helpers.DecryptionError):
        helpers.decrypt(key, "not base64!")


def test_rotation_changes_the_key_used_from_then_on(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_encryption="aes-256-gcm")
    old = webhook.encryption_key
    services.webhook_encryption_key_rotate(webhook=webhook)
    webhook.refresh_from_db()
    assert webhook.encryption_key != old
    with committed():
        emit("contact.updated", data={"id": 3})
    body = receiver.wait_for(1)[0].json()
    assert documented_decrypt(webhook.encryption_key, body["data"]) == {"id": 3}


def test_switching_off_keeps_the_key_and_sends_clear_data(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_encryption="aes-256-gcm")
    key = webhook.encryption_key
    services.webhook_update(webhook=webhook, payload_encryption="none")
    services.webhook_update(webhook=webhook, payload_encryption="aes-256-gcm")
    webhook.refresh_from_db()
    assert webhook.encryption_key == key


def test_a_webhook_that_encrypts_without_a_key_sends_nothing_in_clear(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_encryption="aes-256-gcm")
    Webhook.objects.filter(pk=webhook.pk).update(encryption_key="")
    with committed():
        emit("contact.updated", data={"secret": "x"})
    delivery = Delivery.objects.get()
    assert not receiver.requests
    assert "no encryption key" in delivery.last_error


# The worked example of docs/receivers.md ---------------------------------------------


def readme_example() -> dict:
    """The values of the worked example in docs/receivers.md (section "Encrypted payloads")."""
    text = RECEIVERS_DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Encrypted payloads\n") :].split("\n## ", 2)[1]
    found = dict(re.findall(r"^(key|nonce|data|data \(encrypted\)) += (.+)$", section, re.M))
    return found


def test_the_documented_worked_example_is_what_the_app_produces():
    example = readme_example()
    key, nonce_hex = example["key"].strip(), example["nonce"].strip()
    data = json.loads(example["data"])
    value = crypto_payload.data_encrypt(key, data, nonce=bytes.fromhex(nonce_hex))
    assert value == example["data (encrypted)"].strip()
    assert documented_decrypt(key, value) == data


# API -------------------------------------------------------------------------------


def test_api_create_shows_the_key_once_and_the_secret_endpoint_again(admin_api):
    body = {
        "name": "Encrypted",
        "events": ["*"],
        "url": "https://hooks.example.com/in",
        "payload_encryption": "aes-256-gcm",
    }
    created = admin_api.post("/api/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    key = created.json()["encryption_key"]
    assert len(base64.b64decode(key)) == 32 and created.json()["payload_encryption"] == "aes-256-gcm"
    url = f"/api/webhooks/{created.json()['id']}/"
    assert "encryption_key" not in admin_api.get(url).json()
    assert admin_api.get(url + "secret/").json()["encryption_key"] == key

    rotated = admin_api.post(url + "rotate-encryption-key/")
    assert rotated.status_code == 200
    assert rotated.json()["encryption_key"] not in ("", key)
    assert admin_api.get(url + "secret/").json()["encryption_key"] == rotated.json()["encryption_key"]

    plain = admin_api.post("/api/webhooks/", {**body, "payload_encryption": "none"}, format="json")
    assert plain.json()["encryption_key"] == ""
    assert (
        admin_api.post("/api/webhooks/", {**body, "payload_encryption": "rot13"}, format="json").status_code
        == 400
    )


def test_rotating_the_key_needs_the_secret_permissions(token_client_for, make_api_user, public_webhook):
    reader = token_client_for(make_api_user("webhooks_app.view_webhook"))
    response = reader.post(f"/api/webhooks/{public_webhook.pk}/rotate-encryption-key/")
    assert response.status_code == 403
