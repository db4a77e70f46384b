"""Fixtures and helpers shared by the REST API tests (no tests of its own)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from webhooks_app.models import Attempt, Delivery, Event

PUBLIC_URL = "https://hooks.example.com/in"


def grant(user, *perms: str):
    """Give a user permissions named "app_label.codename"."""
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def make_api_user(django_user_model):
    counter = iter(range(1, 10_000))

    def make(*perms: str, **fields):
        fields.setdefault("username", f"user{next(counter)}")
        user = django_user_model.objects.create_user(password="pw-123456", **fields)
        return grant(user, *perms)

    return make


@pytest.fixture
def token_client_for():
    """An APIClient that authenticates with the user's real DRF token."""

    def make(user) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def api_superuser(make_api_user):
    return make_api_user(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_api(token_client_for, api_superuser) -> APIClient:
    """A superuser's token client."""
    return token_client_for(api_superuser)


@pytest.fixture
def public_webhook(make_webhook):
    """A webhook with a public URL: nothing is sent to it in non-transactional tests."""
    return make_webhook(PUBLIC_URL, name="CRM sync", events=["contact.created", "contact.updated"])


def make_delivery(
    webhook,
    *,
    status=Delivery.Status.SUCCEEDED,
    event_type="contact.created",
    age=timedelta(0),
    attempts=1,
    data=None,
) -> Delivery:
    """A delivery in any state with its event and attempts, written straight to the database."""
    created = timezone.now() - age
    event = Event.objects.create(event_type=event_type, data=data or {"id": 1})
    Event.objects.filter(pk=event.pk).update(created_at=created)
    delivery = Delivery.objects.create(
        webhook=webhook,
        event=event,
        event_type=event_type,
        status=status,
        attempt_count=attempts,
        last_response_status=200 if status == Delivery.Status.SUCCEEDED else 500,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created)
    for number in range(1, attempts + 1):
        ok = status == Delivery.Status.SUCCEEDED and number == attempts
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            request_url=webhook.url,
            request_headers={"Content-Type": "application/json", "webhook-signature": "[redacted]"},
            request_body='{"id": "evt"}',
            response_status=200 if ok else 500,
            response_headers={"Content-Type": "text/plain"},
            response_body="ok" if ok else "boom",
            duration_ms=12,
            error_class="" if ok else Attempt.ErrorClass.HTTP_STATUS,
        )
    delivery.refresh_from_db()
    return delivery
