"""Issue 21, copy helpers: the event id shown whole, and "Copy as curl" of an attempt that a
receiver accepts when run by hand (signed afresh for who may read the signing secret)."""

import shutil
import subprocess

import pytest
from django.urls import reverse

from tests.conftest import IN_CI
from tests.test_console_health import try_now
from tests.test_console_views import client_for, make_user
from webhooks_app import emit
from webhooks_app.models import Attempt, Delivery


@pytest.fixture
def sent(receiver, make_webhook):
    """A real attempt to a local receiver, with an API key and a custom header (masked in the log)."""
    webhook = make_webhook(
        receiver.url, name="Local", api_key="key-abcdef123456", headers={"X-Tenant": "acme"}
    )
    emit("contact.created", data={"id": 1, "email": "a@example.com"})
    delivery = try_now(Delivery.objects.get().pk)
    receiver.wait_for(1)
    return webhook, delivery, Attempt.objects.get(delivery=delivery)


def run(command: str):
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=20, check=False)


def curl_url(attempt):
    return reverse("webhooks_app:attempt-curl", args=[attempt.pk])


@pytest.mark.skipif(shutil.which("curl") is None and not IN_CI, reason="curl is not installed")
def test_copy_as_curl_replays_a_request_the_receiver_verifies(db, receiver, sent):
    webhook, delivery, attempt = sent
    from django.contrib.auth.models import User

    client = client_for(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post(curl_url(attempt), HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    command = response.json()["curl"]
    assert command.splitlines()[0].startswith(
        "# Masked in the delivery log, fill them in: X-API-Key, X-Tenant"
    )
    assert "key-abcdef123456" not in command and "acme" not in command

    result = run(command)
    assert result.returncode == 0, result.stderr
    replayed = receiver.wait_for(2)[1]
    assert replayed.body == receiver.requests[0].body
    assert replayed.headers["webhook-id"] == delivery.event_id
    # The receiver's own check, as it runs it on every request: the signature verifies now.
    assert replayed.verify(webhook.secret)["data"] == {"id": 1, "email": "a@example.com"}


def test_without_the_secret_permission_the_command_carries_no_signature(db, receiver, sent):
    _, _, attempt = sent
    client = client_for(make_user("viewer", perms=["view_webhook", "view_delivery"]))
    text = client.post(curl_url(attempt)).content.decode()
    assert "# The signature headers need the signing secret" in text
    assert "v1," not in text
    page = client.get(attempt.delivery.get_absolute_url()).content.decode()
    assert "Without signatures: they need the signing secret." in page


def test_the_delivery_page_offers_copy_for_the_event_id_url_and_payload(db, sent):
    _, delivery, attempt = sent
    client = client_for(make_user("viewer", perms=["view_webhook", "view_delivery"]))
    page = client.get(delivery.get_absolute_url()).content.decode()
    assert f'<code id="wh-event-id" data-event-id>{delivery.event_id}</code>' in page
    for target in ("#wh-event-id", "#wh-delivery-url", "#wh-payload"):
        assert f'data-copy="{target}"' in page
    assert f'action="{curl_url(attempt)}"' in page and "Copy as curl" in page
    log = client.get(reverse("webhooks_app:webhook-deliveries", args=[delivery.webhook_id])).content.decode()
    assert f">{delivery.event_id}</span>" in log  # whole, not cut off


def test_copy_as_curl_needs_the_delivery_permission_and_a_post(db, sent):
    _, _, attempt = sent
    client = client_for(make_user("nobody", perms=["view_webhook"]))
    assert client.post(curl_url(attempt)).status_code == 403
    viewer = client_for(make_user("viewer", perms=["view_webhook", "view_delivery"]))
    assert viewer.get(curl_url(attempt)).status_code == 405
