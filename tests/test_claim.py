"""The claim loop across processes: two clusters on one database never send a delivery
twice without a kill; what a claim takes is leased, counted and recorded in bulk."""

import pytest
from django.db import transaction

from tests.cluster import wait_until
from tests.receiver import Reply
from webhooks_app import emit, services
from webhooks_app.models import Attempt, Delivery

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_wakeups(monkeypatch):
    """Nothing runs the deliveries behind the test's back (sync mode would at commit)."""
    monkeypatch.setattr(services.queue, "workers_wake", lambda **kwargs: 0)


def emit_many(count: int) -> list[str]:
    ids = []
    for start in range(0, count, 50):
        with transaction.atomic():
            ids += [emit("contact.updated", data={"id": i}).pk for i in range(start, min(start + 50, count))]
    return ids


@pytest.mark.cluster
def test_two_clusters_on_one_database_never_send_a_delivery_twice(qcluster, make_webhook, receiver):
    receiver.default = Reply(delay=0.005)
    for name in ("a", "b", "c"):
        make_webhook(receiver.url, name=name)
    first, second = qcluster(), qcluster()
    events = emit_many(300)
    expected = {(e, h) for e in events for h in ("a", "b", "c")}

    try:
        wait_until(
            lambda: not Delivery.objects.filter(status=Delivery.Status.PENDING).exists(),
            timeout=120,
            message="every delivery to end",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{first.log()}\n{second.log()}") from None

    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == len(expected)
    received = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(received) == len(expected), "a delivery was sent twice (or lost)"
    assert set(received) == set(events)
    assert Attempt.objects.count() == len(expected)
    assert set(Delivery.objects.values_list("attempt_count", flat=True)) == {1}
    both = {r.headers.get("X-Webhook-Attempt") for r in receiver.requests}
    assert both == {"1"}


def test_a_claim_leases_counts_and_skips_what_another_worker_holds(make_webhook, no_wakeups):
    make_webhook("http://127.0.0.1:9/hook")
    emit_many(5)

    first = services.deliveries_claim(limit=3)
    second = services.deliveries_claim(limit=10)

    assert len(first) == 3 and len(second) == 2
    assert not {d.pk for d in first} & {d.pk for d in second}
    for delivery in Delivery.objects.all():
        assert delivery.lease_until is not None and delivery.attempt_count == 1
    assert services.deliveries_claim(limit=10) == []
    # Given back (a destination that turned slow): due again, the attempt uncounted.
    assert services.deliveries_release(deliveries=second) == 2
    again = services.deliveries_claim(limit=10)
    assert {d.pk for d in again} == {d.pk for d in second}
    assert all(d.attempt_count == 1 for d in again)


def test_a_claim_respects_the_per_destination_slots(make_webhook, no_wakeups):
    slow = make_webhook("http://127.0.0.1:9/slow", name="slow")
    fast = make_webhook("http://[::1]:9/fast", name="fast")
    emit_many(10)  # 10 deliveries each, interleaved in due order

    claimed = services.deliveries_claim(
        limit=8, slots=lambda destination: 2 if "127.0.0.1" in destination else 99
    )

    by_webhook = [d.webhook_id for d in claimed]
    assert by_webhook.count(slow.pk) == 2
    assert by_webhook.count(fast.pk) == 6


def test_the_drain_records_a_batch_in_a_few_statements(
    make_webhook, receiver, no_wakeups, django_assert_max_num_queries
):
    # 40 deliveries: the claims, attempts and state changes are batched, so the
    # statements stay below one per delivery (one task per delivery took ~10 each);
    # how many rounds it takes depends on when the requests finish.
    make_webhook(receiver.url)
    emit_many(40)
    with django_assert_max_num_queries(40):
        stats = services.deliveries_drain(seconds=30)
    assert stats["succeeded"] == 40
    assert len(receiver.wait_for(40)) == 40
