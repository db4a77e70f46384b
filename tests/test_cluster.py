"""A real `manage.py qcluster` subprocess delivers a Contact change (ORM and Redis brokers)."""

import pytest
from django_q.models import OrmQ, Task

from config.contacts.models import Contact
from tests.cluster import wait_until
from tests.conftest import require_service
from webhooks_app import services
from webhooks_app.models import Attempt, Delivery

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def not_in_this_process(monkeypatch):
    """Only the qcluster subprocess may deliver: an attempt made by this process fails the test."""

    def refuse(**kwargs):
        raise AssertionError("the delivery ran in the test process, not in the qcluster")

    monkeypatch.setattr(services, "delivery_attempt", refuse)


def save_contact_and_expect_delivery(cluster, webhook, receiver):
    contact = Contact.objects.create(name="Ada", email="ada@example.com")

    try:
        [request] = receiver.wait_for(1, timeout=30)
        wait_until(
            lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).exists(),
            timeout=10,
            message="the delivery to be recorded as succeeded",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- qcluster log ---\n{cluster.log()}") from None

    payload = request.verify(webhook.secret)
    assert payload["event_type"] == "contact.created"
    assert payload["data"]["id"] == contact.pk
    assert payload["data"]["email"] == "ada@example.com"
    delivery = Delivery.objects.get()
    assert request.headers["webhook-id"] == delivery.event_id
    assert delivery.attempt_count == 1
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.response_status == 200
    # The wake-up was acknowledged and no result row was saved: the attempt log is
    # the record of a delivery, django-q2's task table stays empty.
    wait_until(lambda: not OrmQ.objects.exists(), timeout=10, message="the queue to be empty")
    assert not Task.objects.exists()


def test_qcluster_with_the_orm_broker_delivers_a_saved_contact(qcluster, webhook, receiver):
    cluster = qcluster()

    save_contact_and_expect_delivery(cluster, webhook, receiver)


@pytest.mark.redis
def test_qcluster_with_the_redis_broker_delivers_a_saved_contact(qcluster, webhook, receiver):
    require_service("Redis", "127.0.0.1", 6379)
    cluster = qcluster(redis_url=REDIS_URL)

    save_contact_and_expect_delivery(cluster, webhook, receiver)
    assert not OrmQ.objects.exists(), "the task went through Redis, not the database queue"
