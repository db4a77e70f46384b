"""A delivery that cannot even be tried follows the retry schedule, then fails."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from webhooks_app import services
from webhooks_app.models import Delivery, Webhook


@pytest.mark.django_db
def test_undecryptable_secret_fails_after_the_schedule_instead_of_looping(webhook, receiver, settings):
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    delivery = Delivery.objects.get(event_id=event.pk)
    # The stored secret was encrypted with a key that is gone.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Webhook._meta.db_table} SET secret = %s WHERE id = %s",
            ["fernet:not-a-token-of-any-key", webhook.pk],
        )
    tries = 1 + len(settings.WEBHOOKS["RETRY_SCHEDULE"])
    for number in range(1, tries + 1):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        services.delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempt_count == number
        assert delivery.lease_until is None
        assert "could not be attempted" in delivery.last_error
        assert "cannot be decrypted" in delivery.last_error
    assert delivery.status == Delivery.Status.FAILED
    assert receiver.requests == []
    # Nothing is left for the sweep.
    assert services.deliveries_sweep() == 0
