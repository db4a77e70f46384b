"""WEBHOOKS["MAX_WEBHOOKS"]: the site's webhooks are bounded, so is the work one event creates.

One rule in services.webhook_create; tests/test_parity.py shows the console, the API
and the admin refuse one more with the same message. Here: the service itself, what
stays allowed at the limit, concurrent creates, and the system check.
"""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from webhooks_app import services
from webhooks_app.checks import check_settings
from webhooks_app.exceptions import WebhookValidationError
from webhooks_app.models import Delivery, Webhook

URL = "https://hooks.example.com/in"
MESSAGE = "This site has {n} webhooks and allows at most {max}. Delete one before adding another."


@pytest.fixture
def limit(settings):
    def set_limit(value):
        settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_WEBHOOKS": value}

    return set_limit


def create(name="Hook", **fields):
    return services.webhook_create(name=name, url=URL, events=["*"], **fields)


@pytest.mark.django_db
def test_the_service_refuses_one_more_than_the_limit_until_one_is_deleted(limit):
    limit(3)
    first, *_ = [create(f"Hook {n}") for n in range(3)]

    with pytest.raises(WebhookValidationError) as refused:
        create("One too many")
    assert refused.value.messages == [MESSAGE.format(n=3, max=3)]
    assert refused.value.code == "max_webhooks" and refused.value.field is None
    assert Webhook.objects.count() == 3

    services.webhook_delete(webhook=first)
    assert create("Fits again").pk


@pytest.mark.django_db
def test_no_limit_by_default(settings):
    assert "MAX_WEBHOOKS" not in settings.WEBHOOKS
    for n in range(30):
        create(f"Hook {n}")
    assert Webhook.objects.count() == 30


@pytest.mark.django_db
def test_at_or_over_the_limit_existing_webhooks_still_change_and_send(limit):
    hooks = [create(f"Hook {n}") for n in range(3)]
    limit(2)  # lowered below what the site has: nothing is removed, nothing new comes

    root = _superuser()
    console = Client()
    console.force_login(root)
    api = APIClient()
    api.force_authenticate(root)

    assert api.patch(f"/api/webhooks/{hooks[0].pk}/", {"name": "Renamed"}, format="json").status_code == 200
    assert api.post(f"/api/webhooks/{hooks[1].pk}/rotate-secret/").status_code == 200
    assert api.post(f"/api/webhooks/{hooks[1].pk}/test/").status_code == 201
    response = console.post(
        reverse("webhooks_app:webhook-update", args=[hooks[2].pk]),
        {
            "name": "Edited",
            "events": ["*"],
            "notification_type": "REST",
            "url": URL,
            "api_key_header": "X-API-Key",
            "payload_format": "json",
            "filters": "{}",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    assert sorted(Webhook.objects.values_list("name", flat=True)) == ["Edited", "Hook 1", "Renamed"]

    refused = api.post("/api/webhooks/", {"name": "New", "events": ["*"], "url": URL}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"non_field_errors": [MESSAGE.format(n=3, max=2)]}


@pytest.mark.django_db
def test_the_console_says_it_in_swedish(limit):
    limit(1)
    create()
    console = Client()
    console.force_login(_superuser())

    response = console.post(
        reverse("webhooks_app:webhook-create"),
        {
            "name": "New",
            "events": ["*"],
            "notification_type": "REST",
            "url": URL,
            "api_key_header": "X-API-Key",
            "payload_format": "json",
            "filters": "{}",
            "enabled": "on",
        },
        HTTP_ACCEPT_LANGUAGE="sv",
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Webbplatsen har 1 webhook och tillåter högst 1. Ta bort en innan du lägger till en ny."
    ]


@pytest.mark.django_db
def test_one_event_creates_at_most_one_delivery_per_webhook_so_at_most_max_webhooks(limit):
    limit(5)
    for n in range(5):
        create(f"Hook {n}")
    with pytest.raises(WebhookValidationError):
        create("Sixth")

    services.event_emit(event_type="contact.created", data={"id": 1})

    assert Delivery.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_pass_the_limit(limit):
    """Each create counts and inserts in one transaction that holds the site's lock."""
    limit(3)
    threads_count = 8
    start = threading.Barrier(threads_count)
    outcomes = []

    def attempt(n):
        try:
            start.wait()
            create(f"Hook {n}")
            outcomes.append("created")
        except WebhookValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 5
    assert Webhook.objects.count() == 3


@pytest.mark.parametrize("value", [0, -1, 2.5, "10", True])
def test_a_limit_that_is_not_a_positive_integer_is_a_check_error(settings, value):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_WEBHOOKS": value}
    [error] = check_settings()
    assert error.id == "webhooks_app.E028"
    assert "MAX_WEBHOOKS" in error.msg


@pytest.mark.parametrize("value", [None, 1, 10_000])
def test_a_positive_integer_or_none_passes_the_check(settings, value):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_WEBHOOKS": value}
    assert check_settings() == []


def _superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@example.com", "pw")
