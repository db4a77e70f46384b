"""Issue 10 through the engine and the API: resource.* subscriptions, system events,
source-system event names, topic prefix, custom headers, chosen secrets, the secret
hash header and a rotation no receiver notices.

Deliveries go to a real receiver on 127.0.0.1; signatures are checked with the
``standardwebhooks`` library and by recomputing the hex HMAC with the chosen secret.
"""

import base64
import contextlib
import hashlib
import hmac
import json

import pytest
from django.db import transaction
from django.test import TestCase
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.test_api_support import PUBLIC_URL
from webhooks_app import emit, services
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

EXTRA_EVENTS = {
    "contact.acceptsEmail.changed": "Voyado: an existing contact's e-mail consent changed.",
    "FEEDBACK_SUBMIT": {"description": "WebEngage: feedback was submitted.", "label": "Feedback submitted"},
    "journey.created": "A journey was created.",
    "journey.published": "A journey was published.",
    "app.installed": {"description": "App installed (a system event).", "deliverable": False},
}
CHOSEN = "my-own-signing-secret-2026"


@pytest.fixture(autouse=True)
def declared(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "EVENTS": {**settings.WEBHOOKS["EVENTS"], **EXTRA_EVENTS}}


@contextlib.contextmanager
def committed():
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        yield


def send(event_type, data=None):
    with committed():
        return emit(event_type, data={"id": 1} if data is None else data)


def hex_hmac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def standard(secret: str) -> str:
    """What a receiver passes to standardwebhooks for a chosen (non-whsec) secret (docs/receivers.md)."""
    return secret if secret.startswith("whsec_") else "whsec_" + base64.b64encode(secret.encode()).decode()


# Subscriptions and the registry -----------------------------------------------------


def test_a_resource_wildcard_receives_every_type_of_its_resource_including_later_ones(
    make_webhook, receiver, settings
):
    hook = make_webhook(receiver.url, events=["journey.*"])
    assert hook.events == ["journey.*"]
    send("journey.published")
    send("contact.created")
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "EVENTS": {**settings.WEBHOOKS["EVENTS"], "journey.archived": ""},
    }
    send("journey.archived")
    received = [json.loads(r.body)["event_type"] for r in receiver.wait_for(2)]
    assert sorted(received) == ["journey.archived", "journey.published"]


def test_a_wildcard_covers_the_single_types_of_its_resource():
    hook = Webhook(name="x", url=PUBLIC_URL, events=["journey.published", "journey.*", "contact.created"])
    hook.full_clean()
    assert hook.events == ["contact.created", "journey.*"]
    assert hook.subscribes_to("journey.created") and not hook.subscribes_to("contact.updated")


def test_event_names_as_the_source_systems_write_them(make_webhook, receiver):
    make_webhook(receiver.url, events=["FEEDBACK_SUBMIT", "contact.acceptsEmail.changed"])
    send("FEEDBACK_SUBMIT")
    send("contact.acceptsEmail.changed")
    assert {r.headers["X-Webhook-Event"] for r in receiver.wait_for(2)} == {
        "FEEDBACK_SUBMIT",
        "contact.acceptsEmail.changed",
    }


def test_a_system_event_is_accepted_by_emit_and_never_sent(make_webhook, receiver):
    make_webhook(receiver.url, events=["*"])
    event = send("app.installed")
    assert event.pk and not Event.objects.filter(pk=event.pk).exists()
    assert not Delivery.objects.exists()
    send("contact.created")  # the receiver works: the next event arrives alone
    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Event"] == "contact.created"


def test_a_system_event_is_refused_in_events():
    hook = Webhook(name="x", url=PUBLIC_URL, events=["app.installed"])
    with pytest.raises(Exception) as info:
        hook.full_clean()
    assert "system event" in str(info.value)


def test_the_api_lists_event_types_with_label_and_deliverable(admin_api):
    types = {t["name"]: t for t in admin_api.get("/api/event-types/").json()}
    assert types["app.installed"]["deliverable"] is False
    assert types["FEEDBACK_SUBMIT"] == {
        "name": "FEEDBACK_SUBMIT",
        "description": "WebEngage: feedback was submitted.",
        "resource": "FEEDBACK_SUBMIT",
        "label": "Feedback submitted",
        "deliverable": True,
    }
    assert types["contact.acceptsEmail.changed"]["resource"] == "contact"


def test_the_api_takes_wildcards_and_refuses_system_events(admin_api):
    body = {"name": "x", "url": PUBLIC_URL}
    response = admin_api.post(
        "/api/webhooks/", {**body, "events": ["journey.*", "FEEDBACK_SUBMIT"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["events"] == ["FEEDBACK_SUBMIT", "journey.*"]
    response = admin_api.post(
        "/api/webhooks/", {**body, "events": ["contact.created", "app.installed"]}, format="json"
    )
    assert response.status_code == 400
    assert "system event" in json.dumps(response.json()["events"])


def test_an_api_emit_of_a_system_event_is_accepted_and_sends_nothing(admin_api, make_webhook):
    make_webhook(PUBLIC_URL, events=["*"])
    response = admin_api.post("/api/events/", {"event_type": "app.installed", "data": {}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["deliveries"] == 0
    assert not Delivery.objects.exists()


# Topic prefix, custom headers, secret hash --------------------------------------


def test_topic_prefix_custom_headers_and_secret_hash_arrive(make_webhook, receiver):
    hook = make_webhook(
        receiver.url,
        events=["contact.created"],
        topic_prefix="acme.",
        headers={"X-Tenant": "acme", "Authorization": "Bearer tok-123456789"},
        secret=CHOSEN,
        secret_hash_header="X-Secret-Hash",
    )
    delivery_event = send("contact.created")
    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Event"] == "acme.contact.created"
    assert json.loads(request.body)["event_type"] == "acme.contact.created"
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["Authorization"] == "Bearer tok-123456789"
    assert request.headers["X-Secret-Hash"] == hashlib.sha256(CHOSEN.encode()).hexdigest()
    # Both signatures with the chosen secret's UTF-8 bytes.
    assert request.headers["X-Webhook-Signature"] == hex_hmac(CHOSEN.encode(), request.body)
    StandardWebhook(standard(CHOSEN)).verify(request.body, request.headers)
    # The attempt log masks the custom header values and the hash.
    attempt = Attempt.objects.get(delivery__event_id=delivery_event.pk, delivery__webhook=hook)
    assert attempt.request_headers["X-Tenant"] == "\u2022" * 8
    assert attempt.request_headers["Authorization"].endswith("6789")
    assert "tok-123" not in json.dumps(attempt.request_headers)
    assert attempt.request_headers["X-Secret-Hash"].startswith("\u2022")


def test_a_whsec_secret_is_used_as_standard_webhooks_defines(make_webhook, receiver):
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    make_webhook(receiver.url, events=["contact.created"], secret=secret)
    send("contact.created")
    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Signature"] == hex_hmac(key, request.body)
    StandardWebhook(secret).verify(request.body, request.headers)


def test_two_webhooks_with_different_prefixes_get_their_own_bodies(make_webhook, receiver):
    make_webhook(receiver.url, name="a", events=["contact.created"], topic_prefix="a.")
    make_webhook(receiver.url, name="b", events=["contact.created"])
    send("contact.created")
    assert sorted(json.loads(r.body)["event_type"] for r in receiver.wait_for(2)) == [
        "a.contact.created",
        "contact.created",
    ]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "text/plain"}, "set by webhooks_app"),
        ({"X-Webhook-Signature": "x"}, "set by webhooks_app"),
        ({"Bad Name": "x"}, "header name"),
        ({"X-Ok": "line\nbreak"}, "Line breaks"),
        ({"X-Ok": ""}, "1-1000"),
        ({"X-API-Key": "dup"}, "already the API key header"),
        ({f"X-H{i}": "v" for i in range(21)}, "At most 20"),
        (["X-Ok", "v"], "JSON object"),
    ],
)
def test_bad_custom_headers_are_refused_by_the_api(admin_api, headers, message):
    body = {"name": "x", "url": PUBLIC_URL, "events": ["contact.created"], "headers": headers}
    response = admin_api.post("/api/webhooks/", body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()["headers"])


def test_the_api_masks_headers_on_read_and_keeps_a_masked_value_sent_back(admin_api):
    body = {
        "name": "x",
        "url": PUBLIC_URL,
        "events": ["contact.created"],
        "headers": {"X-Tenant": "acme-tenant-1234", "X-Other": "other-value-5678"},
        "topic_prefix": "acme.",
        "secret_hash_header": "X-Secret-Hash",
        "secret": CHOSEN,
    }
    created = admin_api.post("/api/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["secret"] == CHOSEN
    assert data["headers"] == {"X-Tenant": "\u2022" * 8 + "1234", "X-Other": "\u2022" * 8 + "5678"}
    assert data["topic_prefix"] == "acme." and data["secret_hash_header"] == "X-Secret-Hash"
    read = admin_api.get(f"/api/webhooks/{data['id']}/").json()
    assert "acme-tenant" not in json.dumps(read) and "secret" not in read
    # PUT back what was read, with one value changed: the masked one is kept.
    read["headers"]["X-Other"] = "new-value"
    read.pop("id")
    for name in ("api_key_hint", "last_delivery_status", "last_delivery_at", "success_rate_24h"):
        read.pop(name, None)
    response = admin_api.put(f"/api/webhooks/{data['id']}/", read, format="json")
    assert response.status_code == 200, response.json()
    assert Webhook.objects.get(pk=data["id"]).headers == {
        "X-Tenant": "acme-tenant-1234",
        "X-Other": "new-value",
    }


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("short", "16-500"),
        ("has spaces in the secret", "printable"),
        ("whsec_not*base64*at*all!!", "base64"),
        ("whsec_" + base64.b64encode(b"0123456789").decode(), "base64"),
    ],
)
def test_a_bad_chosen_secret_is_a_400(admin_api, secret, message):
    body = {"name": "x", "url": PUBLIC_URL, "events": ["contact.created"], "secret": secret}
    response = admin_api.post("/api/webhooks/", body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()["secret"])
    assert secret not in json.dumps(response.json())


def test_a_blank_secret_is_generated(admin_api):
    body = {"name": "x", "url": PUBLIC_URL, "events": ["contact.created"], "secret": ""}
    response = admin_api.post("/api/webhooks/", body, format="json")
    assert response.status_code == 201
    assert response.json()["secret"].startswith("whsec_")


def test_a_bad_topic_prefix_is_a_400(admin_api):
    body = {"name": "x", "url": PUBLIC_URL, "events": ["contact.created"], "topic_prefix": "a b\n"}
    response = admin_api.post("/api/webhooks/", body, format="json")
    assert response.status_code == 400 and "topic_prefix" in response.json()


# Rotation -----------------------------------------------------------------------


def test_a_chosen_secret_on_update_overlaps_and_both_headers_carry_both(make_webhook, receiver, admin_api):
    hook = make_webhook(receiver.url, events=["contact.created"])
    old = hook.secret
    response = admin_api.patch(f"/api/webhooks/{hook.pk}/", {"secret": CHOSEN}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["previous_secret_expires_at"]
    send("contact.created")
    [request] = receiver.wait_for(1)
    new_hex, old_hex = request.headers["X-Webhook-Signature"].split(",")
    assert new_hex == hex_hmac(CHOSEN.encode(), request.body)
    assert old_hex == hex_hmac(base64.b64decode(old[6:]), request.body)
    StandardWebhook(standard(CHOSEN)).verify(request.body, request.headers)
    StandardWebhook(old).verify(request.body, request.headers)


def test_expire_previous_secret_now(make_webhook, receiver, admin_api):
    hook = make_webhook(receiver.url, events=["contact.created"])
    services.webhook_secret_rotate(webhook=hook)
    response = admin_api.post(f"/api/webhooks/{hook.pk}/expire-previous-secret/")
    assert response.status_code == 200
    assert response.json()["previous_secret_expires_at"] is None
    send("contact.created")
    [request] = receiver.wait_for(1)
    assert "," not in request.headers["X-Webhook-Signature"]
    assert len(request.headers["webhook-signature"].split(" ")) == 1


def test_the_overlap_length_is_a_setting(make_webhook, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SECRET_ROTATION_OVERLAP_HOURS": 2}
    hook = make_webhook(PUBLIC_URL, events=["contact.created"])
    services.webhook_secret_rotate(webhook=hook)
    left = hook.previous_secret_expires_at - hook.updated_at
    assert 1.9 * 3600 < left.total_seconds() <= 2 * 3600
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SECRET_ROTATION_OVERLAP_HOURS": 0}
    services.webhook_secret_rotate(webhook=hook)
    assert not hook.previous_secret and hook.previous_secret_expires_at is None


# Model transitions (WebEngage lifecycle: published) -------------------------------


def test_a_model_transition_is_an_event(settings, make_webhook, receiver):
    from config.contacts.models import Contact

    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "MODELS": {
            "contacts.Contact": {
                "resource": "contact",
                "actions": [],
                "transitions": {"opted_in": {"field": "accepts_email", "value": True}},
            }
        },
    }
    make_webhook(receiver.url, events=["contact.opted_in"])
    with committed():
        contact = Contact.objects.create(name="Ann")
    with committed():
        contact.accepts_email = True
        contact.save()
    with committed():
        contact.save()  # no change: no event
    with committed():
        Contact.objects.create(name="Bo", accepts_email=True)  # created in that state: an event
    requests = receiver.wait_for(2)
    assert [r.headers["X-Webhook-Event"] for r in requests] == ["contact.opted_in"] * 2
    assert sorted(json.loads(r.body)["data"]["name"] for r in requests) == ["Ann", "Bo"]


def test_a_webhook_whose_headers_cannot_be_decrypted_still_lists(admin_api, make_webhook, settings):
    from cryptography.fernet import Fernet
    from django.test import override_settings

    make_webhook(PUBLIC_URL, name="Fine", events=["contact.created"], headers={"X-Tenant": "tenant-1234"})
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "ENCRYPTION_KEYS": [Fernet.generate_key()]}):
        broken = make_webhook(PUBLIC_URL, name="Broken", events=["contact.created"], headers={"X-T": "lost"})

    response = admin_api.get("/api/webhooks/")
    assert response.status_code == 200
    headers = {w["name"]: w["headers"] for w in response.json()["results"]}
    assert headers == {"Broken": {"": "(cannot be decrypted)"}, "Fine": {"X-Tenant": "\u2022" * 8 + "1234"}}
    assert admin_api.get(f"/api/webhooks/{broken.pk}/").json()["headers"] == {"": "(cannot be decrypted)"}


def test_a_field_change_event_takes_the_source_systems_spelling(settings, make_webhook, receiver):
    """Voyado's contact.acceptsEmail.changed from the model field accepts_email."""
    from config.contacts.models import Contact

    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "MODELS": {
            "contacts.Contact": {
                "resource": "contact",
                "actions": [],
                "fields": {"accepts_email": "acceptsEmail"},
            }
        },
    }
    make_webhook(receiver.url, events=["contact.acceptsEmail.changed"])
    with committed():
        contact = Contact.objects.create(name="Ann")  # a create is not a change
    with committed():
        contact.accepts_email = True
        contact.save()
    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Event"] == "contact.acceptsEmail.changed"
    assert json.loads(request.body)["data"]["changes"] == {"accepts_email": {"old": False, "new": True}}


def test_a_field_alias_that_is_not_a_name_part_is_a_check_error(settings):
    from webhooks_app.checks import check_settings

    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "MODELS": {"contacts.Contact": {"resource": "contact", "fields": {"accepts_email": "accepts email"}}},
    }
    assert "webhooks_app.E014" in [e.id for e in check_settings()]
