"""Models: webhook validation, secrets, subscriptions, ids, and the delivery state machine."""

import base64

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from webhooks_app import services
from webhooks_app.exceptions import IllegalTransition
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.django_db

VALID = {"name": "CRM", "url": "https://hooks.example.com/in", "events": ["contact.created"]}


def errors_of(**fields):
    """Field names full_clean() refuses for a webhook with VALID fields replaced."""
    webhook = Webhook(**{**VALID, **fields})
    try:
        webhook.full_clean()
    except ValidationError as exc:
        return sorted(exc.message_dict)
    return []


def test_a_valid_webhook_gets_the_documented_defaults():
    webhook = services.webhook_create(**VALID)

    assert errors_of() == []
    assert webhook.enabled is True
    assert webhook.notification_type == "REST"
    assert webhook.payload_format == "json"
    assert webhook.api_key_header == "X-API-Key"
    assert webhook.timeout is None
    assert webhook.filters == {}
    assert webhook.created_at and webhook.updated_at


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/in", "javascript:alert(1)", "hooks.example.com/in", "file:///etc/passwd", ""],
)
def test_only_http_and_https_urls_are_accepted(url):
    assert errors_of(url=url) == ["url"]


@pytest.mark.parametrize("url", ["http://hooks.example.com/in", "https://hooks.example.com:8443/in?x=1"])
def test_http_and_https_urls_pass(url):
    assert errors_of(url=url) == []


def test_name_is_required():
    assert errors_of(name="") == ["name"]


def test_at_least_one_event_is_required():
    assert errors_of(events=[]) == ["events"]


def test_notification_type_is_a_choice_with_rest():
    assert errors_of(notification_type="SMS") == ["notification_type"]
    assert errors_of(notification_type="REST") == []


def test_payload_format_is_json_or_xml():
    assert errors_of(payload_format="xml") == []
    assert errors_of(payload_format="yaml") == ["payload_format"]


@pytest.mark.parametrize(("timeout", "ok"), [(None, True), (1, True), (60, True), (0, False), (61, False)])
def test_timeout_is_between_1_and_60_seconds(timeout, ok):
    assert errors_of(timeout=timeout) == ([] if ok else ["timeout"])


def test_each_webhook_gets_its_own_whsec_secret():
    first, second = services.webhook_create(**VALID), services.webhook_create(**VALID)

    assert first.secret != second.secret
    for secret in (first.secret, second.secret):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


def test_secrets_and_api_keys_are_stored_encrypted_and_read_back_in_clear():
    webhook = services.webhook_create(**VALID, api_key="plain-api-key-123")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret, api_key FROM {Webhook._meta.db_table} WHERE id = %s", [webhook.pk])
        secret, api_key = cursor.fetchone()

    assert "whsec_" not in secret and "plain-api-key-123" not in api_key
    stored = Webhook.objects.get(pk=webhook.pk)
    assert stored.secret == webhook.secret
    assert stored.api_key == "plain-api-key-123"
    assert stored.api_key_hint.endswith("-123") and "plain" not in stored.api_key_hint


def test_secret_rotation_keeps_the_old_secret_for_a_day():
    webhook = services.webhook_create(**VALID)
    old = webhook.secret

    services.webhook_secret_rotate(webhook=webhook)

    stored = Webhook.objects.get(pk=webhook.pk)
    assert stored.secret != old and stored.secret.startswith("whsec_")
    assert stored.previous_secret == old
    left = stored.previous_secret_expires_at - stored.updated_at
    assert 23.9 * 3600 < left.total_seconds() <= 24 * 3600


def test_subscriptions():
    some = Webhook(**VALID | {"events": ["contact.created", "contact.deleted"]})
    everything = Webhook(**VALID | {"events": ["*"]})

    assert some.subscribes_to("contact.created") and not some.subscribes_to("contact.updated")
    assert not some.all_events
    assert everything.all_events and everything.subscribes_to("anything.at_all")


def test_event_ids_are_unique_evt_ids():
    ids = {Event.objects.create(event_type="contact.created").pk for _ in range(5)}

    assert len(ids) == 5
    assert all(i.startswith("evt_") and len(i) == 36 for i in ids)


def delivery(status=Delivery.Status.PENDING):
    webhook = services.webhook_create(**VALID)
    event = Event.objects.create(event_type="contact.created")
    return Delivery.objects.create(webhook=webhook, event=event, event_type=event.event_type, status=status)


@pytest.mark.parametrize(
    "final", [Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.CANCELLED]
)
def test_a_pending_delivery_can_end_in_each_final_status(final):
    pending = delivery()

    services.delivery_finish(delivery=pending, status=final)

    stored = Delivery.objects.get(pk=pending.pk)
    assert stored.status == final and stored.is_final
    assert stored.completed_at is not None and stored.next_attempt_at is None


@pytest.mark.parametrize(
    "start", [Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.CANCELLED]
)
@pytest.mark.parametrize("target", list(Delivery.Status))
def test_a_finished_delivery_never_changes_status(start, target):
    finished = delivery(status=start)

    with pytest.raises(IllegalTransition):
        services.delivery_finish(delivery=finished, status=target)
    assert Delivery.objects.get(pk=finished.pk).status == start


def test_cancelling_a_delivery_whose_row_already_finished_changes_nothing():
    stale = delivery()
    Delivery.objects.filter(pk=stale.pk).update(status=Delivery.Status.SUCCEEDED)

    services.delivery_cancel(delivery=stale)

    assert Delivery.objects.get(pk=stale.pk).status == Delivery.Status.SUCCEEDED


def test_attempt_succeeded_means_a_2xx_status():
    assert Attempt(response_status=204).succeeded
    assert not Attempt(response_status=302).succeeded
    assert not Attempt(response_status=None).succeeded
