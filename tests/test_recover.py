"""Recover: redeliver every failed delivery of a webhook since a time, in batches, with progress.

Deliveries run in this process (Q_CLUSTER sync) against a real receiver, and once
through a real qcluster. With an empty RETRY_SCHEDULE a failed attempt is a failed
delivery.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.cluster import settle
from tests.receiver import Receiver, Reply
from webhooks_app import emit, services
from webhooks_app.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_retries(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [], "AUTO_DISABLE_FAILURES": None}


def emit_events(count, start=0):
    events = []
    for i in range(start, start + count):
        with transaction.atomic():
            events.append(emit("contact.updated", data={"id": i}))
    return events


def test_redeliver_failed_since_a_time_in_batches_with_progress(webhook, receiver):
    receiver.default = Reply(500)
    old = emit_events(1)[0]
    Delivery.objects.filter(event=old).update(created_at=timezone.now() - timedelta(days=2))
    since = timezone.now()
    failed = emit_events(5, start=1)
    receiver.script = [Reply(200)]
    succeeded = emit_events(1, start=6)[0]
    assert Delivery.objects.filter(status="failed").count() == 6
    receiver.requests.clear()
    receiver.default = Reply(200)
    calls = []

    count = services.deliveries_redeliver_failed(
        webhook=webhook, since=since, batch_size=2, progress=lambda done, total: calls.append((done, total))
    )

    assert count == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]
    # The receiver got each failed event again, with the same webhook-id, signed.
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(ids) == sorted(e.pk for e in failed)
    for request in receiver.requests:
        request.verify(webhook.secret)
        assert request.headers["X-Webhook-Attempt"] == "1"
    # New deliveries, succeeded; the failed ones stay in the log as they were.
    new = Delivery.objects.filter(event__in=failed, status="succeeded")
    assert new.count() == 5
    assert Delivery.objects.filter(event__in=failed, status="failed").count() == 5
    # Older than `since`, or not failed: not redelivered.
    assert Delivery.objects.filter(event=old).count() == 1
    assert Delivery.objects.filter(event=succeeded).count() == 1


def test_recovering_twice_does_not_send_again_what_was_recovered(webhook, receiver):
    receiver.default = Reply(500)
    since = timezone.now()
    failed = emit_events(3)
    receiver.default = Reply(200)
    receiver.requests.clear()

    assert services.deliveries_redeliver_failed(webhook=webhook, since=since) == 3
    assert services.deliveries_redeliver_failed(webhook=webhook, since=since) == 0

    assert len(receiver.requests) == 3
    assert Delivery.objects.filter(event__in=failed).count() == 6


def test_an_event_that_failed_again_is_redelivered_once_not_once_per_failure(webhook, receiver):
    receiver.default = Reply(500)
    since = timezone.now()
    failed = emit_events(2)
    assert services.deliveries_redeliver_failed(webhook=webhook, since=since) == 2
    assert Delivery.objects.filter(event__in=failed, status="failed").count() == 4
    receiver.default = Reply(200)
    receiver.requests.clear()
    calls = []

    count = services.deliveries_redeliver_failed(
        webhook=webhook, since=since, progress=lambda done, total: calls.append((done, total))
    )

    assert count == 2
    assert calls == [(2, 2)]
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(e.pk for e in failed)


def test_a_redelivery_still_pending_is_not_doubled(webhook, receiver, monkeypatch):
    receiver.default = Reply(500)
    since = timezone.now()
    emit_events(2)
    # A slow queue: the redeliveries are not picked up yet.
    monkeypatch.setattr(services.queue, "workers_wake", lambda **kwargs: 0)

    assert services.deliveries_redeliver_failed(webhook=webhook, since=since) == 2
    assert services.deliveries_redeliver_failed(webhook=webhook, since=since) == 0

    assert Delivery.objects.filter(status="pending").count() == 2


def test_only_this_webhooks_failures_are_recovered(make_webhook, receiver):
    other = Receiver().start()
    try:
        mine = make_webhook(receiver.url, name="mine")
        make_webhook(other.url, name="theirs")
        receiver.default = other.default = Reply(500)
        since = timezone.now()
        emit_events(2)
        receiver.default = other.default = Reply(200)
        receiver.requests.clear()
        other.requests.clear()

        assert services.deliveries_redeliver_failed(webhook=mine, since=since) == 2
    finally:
        other.stop()

    assert len(receiver.requests) == 2
    assert other.requests == []


@pytest.mark.cluster
def test_recover_through_a_real_cluster(start_cluster, webhook, receiver):
    start_cluster(overrides={"RETRY_SCHEDULE": [], "AUTO_DISABLE_FAILURES": None})
    receiver.default = Reply(500)
    since = timezone.now()
    failed = emit_events(30)
    settle(list(Delivery.objects.values_list("pk", flat=True)), timeout=60)
    assert Delivery.objects.filter(status="failed").count() == 30
    assert len(receiver.requests) == 30
    receiver.default = Reply(200)
    receiver.requests.clear()
    calls = []

    count = services.deliveries_redeliver_failed(
        webhook=webhook, since=since, batch_size=10, progress=lambda done, total: calls.append((done, total))
    )
    ids = list(Delivery.objects.exclude(status="failed").values_list("pk", flat=True))
    deliveries = settle(ids, timeout=60)

    assert count == 30 and calls == [(10, 30), (20, 30), (30, 30)]
    assert [d.status for d in deliveries] == ["succeeded"] * 30
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(e.pk for e in failed)
