"""RETENTION_DAYS per event type: the purge keeps each type for its own days, the most precise key winning."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Event
from webhooks_app.services.retention import retention_expired

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
POLICY = {"*": 30, "contact.*": 7, "contact.deleted": 60}


def aged(webhook, event_type: str, days: int) -> Delivery:
    event = Event.objects.create(event_type=event_type, data={"email": "a@example.com"})
    delivery = Delivery.objects.create(
        webhook=webhook, event=event, event_type=event_type, status=Delivery.Status.SUCCEEDED, attempt_count=1
    )
    Attempt.objects.create(delivery=delivery, number=1, request_url=webhook.url)
    moment = timezone.now() - days * DAY
    Event.objects.filter(pk=event.pk).update(created_at=moment)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=moment)
    return delivery


@pytest.fixture
def log(make_webhook):
    hook = make_webhook("http://127.0.0.1:9/a")
    return {
        (event_type, days): aged(hook, event_type, days)
        for event_type in ("contact.updated", "contact.deleted", "webhook.test", "order.paid")
        for days in (3, 10, 40, 70)
    }


def kept(log) -> set:
    remaining = set(Delivery.objects.values_list("pk", flat=True))
    return {key for key, delivery in log.items() if delivery.pk in remaining}


def test_each_type_is_kept_for_its_own_days(log, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETENTION_DAYS": POLICY}

    counts = services.retention_purge()

    assert kept(log) == {
        ("contact.updated", 3),  # contact.*: 7 days
        ("contact.deleted", 3),  # its own name wins: 60 days
        ("contact.deleted", 10),
        ("contact.deleted", 40),
        ("webhook.test", 3),  # "*": 30 days
        ("webhook.test", 10),
        ("order.paid", 3),
        ("order.paid", 10),
    }
    assert counts["deliveries"] == 8 and counts["events"] == 8 and counts["attempts"] == 8
    assert Event.objects.count() == 8 and Attempt.objects.count() == 8


def test_without_a_star_the_other_types_keep_30_days(log, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETENTION_DAYS": {"contact.*": 7}}
    services.retention_purge()
    assert {key for key in kept(log) if key[0] == "order.paid"} == {("order.paid", 3), ("order.paid", 10)}
    assert {key for key in kept(log) if key[0] == "contact.deleted"} == {("contact.deleted", 3)}


def test_a_resource_key_is_the_part_before_the_first_dot(make_webhook):
    hook = make_webhook("http://127.0.0.1:9/a")
    nested = aged(hook, "contact.accepts_email.changed", 10)
    lookalike = aged(hook, "contactlist.updated", 10)
    expired = Delivery.objects.filter(retention_expired(days={"*": 30, "contact.*": 7}))
    assert list(expired.values_list("pk", flat=True)) == [nested.pk]
    assert lookalike.pk not in expired.values_list("pk", flat=True)


def test_the_command_follows_the_mapping_and_days_overrides_it(log, settings, capsys):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETENTION_DAYS": POLICY}
    call_command("webhooks_purge")
    out = capsys.readouterr().out
    assert "Purged rows older than their type's retention" in out and "8 deliveries" in out
    call_command("webhooks_purge", "--days", "5")
    assert "Purged rows older than 5 days" in capsys.readouterr().out
    assert kept(log) == {(t, 3) for t in ("contact.updated", "contact.deleted", "webhook.test", "order.paid")}
