"""Webhooks and deliveries deleted while their deliveries are in flight (issue 18).

The claim and the record are two transactions with the requests in between: a
webhook (and with it its deliveries) deleted in that gap must not break the
recording of the others. Its own results are dropped; every answered attempt of a
delivery that still exists is recorded, so nothing is sent twice.
"""

import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from django.db import connection, transaction

from tests.cluster import settle, wait_until
from tests.receiver import Reply
from webhooks_app import emit, selectors, services
from webhooks_app.models import Attempt, Delivery, Webhook, WebhookSettings
from webhooks_app.services import deliveries

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def sending_off():
    """Deliveries are recorded but nothing is sent (no inline drain on commit) until the end."""
    WebhookSettings.objects.update_or_create(pk=1, defaults={"enabled": False})
    selectors.sending.clear()
    try:
        yield
    finally:
        WebhookSettings.objects.filter(pk=1).update(enabled=True)
        selectors.sending.clear()


def emit_events(count: int) -> list:
    events = []
    with sending_off():
        for i in range(count):
            with transaction.atomic():
                events.append(emit("contact.updated", data={"id": i}))
    return events


def webhooks_for(make_webhook, receiver, *, kept: int, doomed: int):
    """Webhooks on distinct paths of one receiver (distinct destinations, as distinct receivers)."""
    keep = [make_webhook(f"{receiver.url}/kept-{i}", name=f"Kept {i}") for i in range(kept)]
    gone = [make_webhook(f"{receiver.url}/doomed-{i}", name=f"Doomed {i}") for i in range(doomed)]
    return keep, gone


def assert_recorded_once(kept, events, receiver):
    """Every delivery of the kept webhooks succeeded, with one attempt, sent once."""
    for webhook in kept:
        rows = list(Delivery.objects.filter(webhook=webhook))
        assert len(rows) == len(events)
        for delivery in rows:
            assert delivery.status == Delivery.Status.SUCCEEDED, (delivery.pk, delivery.last_error)
            assert delivery.attempt_count == 1
            assert list(delivery.attempts.values_list("number", "response_status")) == [(1, 200)]
        path = urlsplit(webhook.url).path
        sent = [r.headers["webhook-id"] for r in receiver.requests if r.path == path]
        assert sorted(sent) == sorted(e.pk for e in events), webhook.name


def test_webhooks_deleted_between_claim_and_record_drop_their_results_only(make_webhook, receiver):
    kept, doomed = webhooks_for(make_webhook, receiver, kept=2, doomed=3)
    events = emit_events(2)
    claimed = services.deliveries_claim(limit=100)
    assert len(claimed) == 10
    outcomes = [deliveries.attempt_prepare(d) for d in claimed]
    for outcome in outcomes:
        outcome.result = deliveries._send(outcome)
    assert len(receiver.requests) == 10 and all(o.result.ok for o in outcomes)

    for webhook in doomed:
        services.webhook_delete(webhook=webhook)
    recorded = services.attempts_record(outcomes=outcomes)

    assert sorted(a.delivery.webhook_id for a in recorded) == sorted([w.pk for w in kept] * 2)
    assert Attempt.objects.count() == 4
    assert not Delivery.objects.exclude(webhook__in=kept).exists()
    assert_recorded_once(kept, events, receiver)


def test_a_delivery_deleted_between_claim_and_record_drops_its_result_only(make_webhook, receiver):
    webhooks_for(make_webhook, receiver, kept=1, doomed=0)
    events = emit_events(3)
    claimed = services.deliveries_claim(limit=100)
    outcomes = [deliveries.attempt_prepare(d) for d in claimed]
    for outcome in outcomes:
        outcome.result = deliveries._send(outcome)
    gone = outcomes[1].delivery
    Delivery.objects.filter(pk=gone.pk).delete()  # as the retention purge or an erasure would

    services.attempts_record(outcomes=outcomes)

    assert not Delivery.objects.filter(pk=gone.pk).exists()
    assert sorted(Attempt.objects.values_list("delivery_id", flat=True)) == sorted(
        o.delivery.pk for o in outcomes if o.delivery.pk != gone.pk
    )
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 2
    assert len(events) == 3


def in_thread(target) -> tuple[threading.Thread, list]:
    """Run target on its own database connection; returns the thread and the errors it raised."""
    errors = []

    def run():
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def sent_outcomes(count: int) -> list:
    claimed = services.deliveries_claim(limit=100)
    assert len(claimed) == count
    outcomes = [deliveries.attempt_prepare(d) for d in claimed]
    for outcome in outcomes:
        outcome.result = deliveries._send(outcome)
    return outcomes


BLOCKED = 0.5  # long enough for the other transaction to reach its lock and wait


def test_a_record_that_meets_a_delete_in_progress_waits_and_drops_its_rows(make_webhook, receiver):
    """The delete has removed the rows but not committed yet when the record starts."""
    kept, doomed = webhooks_for(make_webhook, receiver, kept=1, doomed=1)
    events = emit_events(2)
    outcomes = sent_outcomes(4)
    deleting, commit = threading.Event(), threading.Event()

    def delete_and_hold():
        with transaction.atomic():
            services.webhook_delete(webhook=Webhook.objects.get(pk=doomed[0].pk))
            deleting.set()
            commit.wait(10)

    deleter, deleter_errors = in_thread(delete_and_hold)
    assert deleting.wait(10)
    recorder, recorder_errors = in_thread(lambda: services.attempts_record(outcomes=outcomes))
    time.sleep(BLOCKED)
    assert recorder.is_alive(), "the record did not wait for the delete"
    commit.set()
    deleter.join(10)
    recorder.join(10)

    assert deleter_errors == [] and recorder_errors == []
    assert not Webhook.objects.filter(pk=doomed[0].pk).exists()
    assert Attempt.objects.count() == 2
    assert_recorded_once(kept, events, receiver)


def test_a_delete_that_meets_a_record_in_progress_waits_and_takes_its_attempts(make_webhook, receiver):
    """The record has written its attempts but not committed yet when the delete starts."""
    kept, doomed = webhooks_for(make_webhook, receiver, kept=1, doomed=1)
    events = emit_events(2)
    outcomes = sent_outcomes(4)

    with transaction.atomic():
        services.attempts_record(outcomes=outcomes)
        deleter, errors = in_thread(
            lambda: services.webhook_delete(webhook=Webhook.objects.get(pk=doomed[0].pk))
        )
        time.sleep(BLOCKED)
        assert deleter.is_alive(), "the delete did not wait for the record"
    deleter.join(10)

    assert errors == []
    assert not Webhook.objects.filter(pk=doomed[0].pk).exists()
    assert not Delivery.objects.filter(webhook_id=doomed[0].pk).exists()
    assert Attempt.objects.count() == 2  # the doomed webhook's went with it
    assert_recorded_once(kept, events, receiver)


def test_a_failed_record_step_leaves_its_attempts_to_the_end_of_the_drain(
    make_webhook, receiver, monkeypatch
):
    """Whatever fails the record transaction (here a simulated database error), the
    answered attempts are not forgotten: the drain's last step records them."""
    from django.db import OperationalError

    kept, _ = webhooks_for(make_webhook, receiver, kept=1, doomed=0)
    events = emit_events(3)
    real_record, calls = deliveries.attempts_record, []

    def fail_once(**kwargs):
        calls.append(len(kwargs["outcomes"]))
        if kwargs["outcomes"] and len([c for c in calls if c]) == 1:
            real_record(**kwargs)  # written, then the transaction fails and rolls it back
            raise OperationalError("simulated: the connection broke before COMMIT")
        return real_record(**kwargs)

    monkeypatch.setattr(deliveries, "attempts_record", fail_once)
    with pytest.raises(OperationalError):
        services.deliveries_drain(seconds=5)

    assert_recorded_once(kept, events, receiver)


def test_a_drain_records_every_answered_attempt_while_webhooks_are_deleted(make_webhook, receiver):
    """Issue 18's run, in one process: the drain's requests are in flight when the
    webhooks are deleted from another connection; the drain's next record step
    recorded nothing (IntegrityError), and the kept webhook's answered deliveries were
    sent again once their leases expired."""
    receiver.default = Reply(delay=0.4)
    kept, doomed = webhooks_for(make_webhook, receiver, kept=1, doomed=9)
    events = emit_events(3)
    deleted = threading.Event()
    errors = []

    def delete_while_in_flight():
        try:
            wait_until(lambda: len(receiver.requests) >= 10, timeout=20, interval=0.01)
            for webhook in doomed:
                services.webhook_delete(webhook=Webhook.objects.get(pk=webhook.pk))
            deleted.set()
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    deleter = threading.Thread(target=delete_while_in_flight)
    deleter.start()
    try:
        stats = services.deliveries_drain(seconds=20)
    finally:
        deleter.join(30)
    assert not errors, errors
    assert deleted.is_set()

    assert stats["succeeded"] >= len(events)  # the kept webhook's, at least
    assert not Webhook.objects.filter(pk__in=[w.pk for w in doomed]).exists()
    assert not Delivery.objects.exclude(webhook__in=kept).exists()
    assert_recorded_once(kept, events, receiver)
    # Nothing is left to send again.
    assert not Delivery.objects.filter(status=Delivery.Status.PENDING).exists()
    time.sleep(0.1)
    assert services.deliveries_drain(seconds=2).get("claimed", 0) == 0


@pytest.mark.cluster
def test_a_qcluster_keeps_every_answered_attempt_while_webhooks_are_deleted(
    start_cluster, make_webhook, receiver
):
    """Issue 18's run: nine webhooks deleted right after 13 emits, through a real qcluster."""
    receiver.default = Reply(delay=0.3)
    kept, doomed = webhooks_for(make_webhook, receiver, kept=1, doomed=9)
    cluster = start_cluster({"LEASE_MARGIN": 3})

    events = []
    for i in range(13):
        with transaction.atomic():
            events.append(emit("contact.updated", data={"id": i}))
    wait_until(lambda: len(receiver.requests) >= 12, timeout=30, interval=0.01, message="requests in flight")
    for webhook in doomed:
        services.webhook_delete(webhook=webhook)

    ids = list(Delivery.objects.filter(webhook__in=kept).values_list("pk", flat=True))
    settle(ids, timeout=60, cluster=cluster)
    time.sleep(3 + 5 + 1)  # a lease (TIMEOUT + LEASE_MARGIN) later: nothing was left unrecorded
    services.deliveries_sweep()
    time.sleep(1)

    assert "IntegrityError" not in cluster.log(), cluster.log()
    assert not Delivery.objects.exclude(webhook__in=kept).exists()
    assert_recorded_once(kept, events, receiver)
