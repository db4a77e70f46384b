"""The exception hierarchy: each error names its field; services raise them for their rules."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from webhooks_app import services
from webhooks_app.exceptions import (
    DeliveryInProgress,
    InvalidEventData,
    UnknownEventType,
    WebhookError,
    WebhookValidationError,
    error_dict,
)
from webhooks_app.models import Delivery, Event


def test_every_error_has_a_field_with_a_default_per_kind():
    assert WebhookError("x").field is None
    assert UnknownEventType("x").field == "event_type"
    assert InvalidEventData("x").field == "data"
    assert InvalidEventData("x", field="context").field == "context"
    assert DeliveryInProgress("x").field is None


def test_a_validation_error_is_both_kinds_and_reads_as_its_message():
    error = WebhookValidationError("Choose a moment in the past.", field="since", code="future")

    assert isinstance(error, WebhookError) and isinstance(error, ValidationError)
    assert str(error) == "Choose a moment in the past."
    assert error.messages == ["Choose a moment in the past."] and error.code == "future"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (WebhookValidationError("bad", field="since"), {"since": ["bad"]}),
        (InvalidEventData("too big"), {"data": ["too big"]}),
        (DeliveryInProgress("pending"), {None: ["pending"]}),
        (ValidationError("whole"), {None: ["whole"]}),
        (ValidationError({"url": ["u1", "u2"], "__all__": ["all"]}), {"url": ["u1", "u2"], None: ["all"]}),
    ],
)
def test_error_dict_is_the_one_translation(error, expected):
    assert {
        field: [m for e in errors for m in e.messages] for field, errors in error_dict(error).items()
    } == (expected)


def test_the_api_reports_a_list_items_error_under_its_index():
    from webhooks_app.api.errors import validation_detail
    from webhooks_app.validators import validate_event_types

    with pytest.raises(ValidationError) as caught:
        validate_event_types(["contact.created", "nope.a", "*", "nope.b"])

    assert validation_detail(caught.value) == {
        "events": {
            "1": ['"nope.a" is not a declared event type.'],
            "3": ['"nope.b" is not a declared event type.'],
        }
    }


# Rules that live in services -----------------------------------------------------------------


@pytest.fixture
def delivery(make_webhook):
    webhook = make_webhook("https://hooks.example.com/in")
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    return Delivery.objects.create(webhook=webhook, event=event, event_type=event.event_type)


@pytest.mark.django_db
def test_a_pending_delivery_is_not_redelivered(delivery):
    with pytest.raises(DeliveryInProgress, match="still being attempted"):
        services.delivery_redeliver(delivery=delivery)
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_the_status_is_read_from_the_row_not_the_object(delivery):
    stale = Delivery.objects.get(pk=delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)

    new = services.delivery_redeliver(delivery=stale)
    assert new.event_id == delivery.event_id and new.status == Delivery.Status.PENDING

    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.PENDING)
    failed = Delivery.objects.get(pk=delivery.pk)
    failed.status = Delivery.Status.FAILED  # what a stale page may think
    with pytest.raises(DeliveryInProgress):
        services.delivery_redeliver(delivery=failed)


@pytest.mark.django_db
def test_redeliver_failed_since_must_be_in_the_past(delivery):
    with pytest.raises(WebhookValidationError) as caught:
        services.deliveries_redeliver_failed(
            webhook=delivery.webhook, since=timezone.now() + timedelta(hours=1)
        )
    assert caught.value.field == "since" and str(caught.value) == "Choose a moment in the past."
    assert services.deliveries_redeliver_failed(webhook=delivery.webhook, since=timezone.now()) == 0
