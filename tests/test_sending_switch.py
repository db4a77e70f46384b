"""The site-wide switch (Engagespot's "enable Default Provider", Nector's toggle): API, console, a real cluster."""

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from config.contacts.models import Contact
from tests.cluster import wait_until
from webhooks_app import services
from webhooks_app.models import Delivery, WebhookSettings

pytest_plugins = ["tests.test_api_support"]

URL = "/api/webhook-settings/"


@pytest.mark.django_db
def test_api_reads_and_switches(admin_api, api_superuser):
    body = admin_api.get(URL).json()
    assert body["enabled"] is True and body["updated_by"] is None

    off = admin_api.patch(URL, {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["updated_by"] == "root"
    assert WebhookSettings.load().enabled is False
    assert admin_api.get(URL).json()["enabled"] is False
    assert admin_api.patch(URL, {"enabled": True}, format="json").json()["enabled"] is True

    assert admin_api.patch(URL, {"enabled": "maybe"}, format="json").status_code == 400
    assert admin_api.patch(URL, {"enabld": False}, format="json").status_code == 400
    assert admin_api.put(URL, {"enabled": False}, format="json").status_code == 405
    assert admin_api.patch(URL, {}, format="json").json()["enabled"] is True


@pytest.mark.django_db
def test_changing_needs_its_own_permission(token_client_for, make_api_user):
    reader = token_client_for(make_api_user("webhooks_app.view_webhook", "webhooks_app.change_webhook"))
    assert reader.get(URL).json()["enabled"] is True
    refused = reader.patch(URL, {"enabled": False}, format="json")
    assert refused.status_code == 403
    assert "webhooks_app.change_sending" in refused.json()["detail"]
    switcher = token_client_for(make_api_user("webhooks_app.view_webhook", "webhooks_app.change_sending"))
    assert switcher.patch(URL, {"enabled": False}, format="json").json()["enabled"] is False
    nobody = token_client_for(make_api_user())
    assert nobody.get(URL).status_code == 403


@pytest.mark.django_db
def test_console_switch_and_the_banner_on_every_page(admin_client, make_webhook):
    webhook = make_webhook("https://hooks.example.com/in")
    listing = admin_client.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert 'aria-label="Send webhooks"' in listing and "data-sending-off" not in listing

    response = admin_client.post(reverse("webhooks_app:sending-update"), {"enabled": "0"}, follow=True)
    assert "All webhook sending is off." in response.content.decode()
    assert WebhookSettings.load().enabled is False
    for name, args in [
        ("webhook-list", []),
        ("webhook-create", []),
        ("webhook-update", [webhook.pk]),
        ("webhook-deliveries", [webhook.pk]),
    ]:
        page = admin_client.get(reverse(f"webhooks_app:{name}", args=args)).content.decode()
        assert "All webhook sending is switched off." in page, name

    admin_client.post(reverse("webhooks_app:sending-update"), {"enabled": "1"})
    assert WebhookSettings.load().enabled is True
    assert "data-sending-off" not in admin_client.get(reverse("webhooks_app:webhook-list")).content.decode()


@pytest.mark.django_db
def test_console_switch_needs_the_permission(django_user_model, make_webhook):
    from tests.test_api_support import grant

    user = django_user_model.objects.create_user("staff", password="pw-123456", is_staff=True)
    grant(user, "webhooks_app.view_webhook")
    client = Client()
    client.force_login(user)
    page = client.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert 'aria-label="Send webhooks"' not in page and "data-sending-switch" in page
    assert client.post(reverse("webhooks_app:sending-update"), {"enabled": "0"}).status_code == 403
    assert WebhookSettings.load().enabled is True


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_off_holds_everything_and_on_sends_it_all_in_order(qcluster, make_webhook, receiver):
    webhook = make_webhook(receiver.url, events=["contact.created"])
    # One worker sending one request at a time: the arrival order is the send order.
    overrides = {"CONCURRENCY": 1, "DESTINATION_CONCURRENCY": 1}
    cluster = qcluster(workers=1, extra_env={"WEBHOOKS_TEST_OVERRIDES": json.dumps(overrides)})

    services.webhook_settings_update(enabled=False)
    contacts = [Contact.objects.create(name=f"Contact {i:02}") for i in range(12)]
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 12
    time.sleep(4)  # a running cluster, woken by every emit: still nothing goes out
    assert receiver.requests == [], cluster.log()
    assert Delivery.objects.filter(status=Delivery.Status.PENDING, attempt_count=0).count() == 12

    services.webhook_settings_update(enabled=True)
    try:
        received = receiver.wait_for(12, timeout=40)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- qcluster log ---\n{cluster.log()}") from None
    assert [r.verify(webhook.secret)["data"]["id"] for r in received] == [c.pk for c in contacts]
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 12,
        timeout=10,
        message="every held delivery to be recorded as succeeded",
    )
    assert Delivery.objects.filter(attempt_count=1).count() == 12
