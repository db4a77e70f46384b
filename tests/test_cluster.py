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


def test_a_short_retry_comes_when_due_without_a_sleeping_worker(qcluster, make_webhook, receiver):
    # RETRY_SCHEDULE 1 s: the worker that recorded the failure arms a timer that
    # wakes a worker when the retry is due. Without it the retry would wait for the
    # next sweep (a minute). Meanwhile the cluster keeps delivering other events.
    import json

    from tests.receiver import Reply

    receiver.script = [Reply(500)]
    webhook = make_webhook(receiver.url)
    overrides = {"RETRY_SCHEDULE": [1, 1], "RETRY_JITTER": 0, "RETRY_WAKEUP_HORIZON": 60}
    cluster = qcluster(extra_env={"WEBHOOKS_TEST_OVERRIDES": json.dumps(overrides)})

    Contact.objects.create(name="Ada", email="ada@example.com")
    try:
        first, second = receiver.wait_for(2, timeout=20)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- qcluster log ---\n{cluster.log()}") from None
    gap = second.at - first.at
    assert 0.9 <= gap < 15, gap
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.headers["X-Webhook-Attempt"] == "2"
    second.verify(webhook.secret)
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).exists(),
        timeout=10,
        message="the retry to be recorded",
    )
