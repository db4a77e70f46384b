"""Retention: the purge removes old events, deliveries and attempts in bounded batches.

Pending deliveries (with their attempts and events) and recent rows stay. The
benchmark on a million attempts is tests/bench_purge.py.
"""

import io
import threading
import types
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from webhooks_app import services, tasks
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def add_event(age: timedelta, *, name="contact.updated") -> Event:
    event = Event.objects.create(event_type=name, data={"id": 1})
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - age)
    return event


def add_delivery(webhook, event, age: timedelta, status="succeeded", attempts=2) -> Delivery:
    delivery = Delivery.objects.create(
        webhook=webhook, event=event, event_type=event.event_type, status=status, attempt_count=attempts
    )
    for number in range(1, attempts + 1):
        Attempt.objects.create(delivery=delivery, number=number, request_url=webhook.url)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - age)
    Attempt.objects.filter(delivery=delivery).update(created_at=timezone.now() - age)
    return delivery


@pytest.fixture
def hooks(make_webhook):
    return make_webhook("http://127.0.0.1:9/a", name="a"), make_webhook("http://127.0.0.1:9/b", name="b")


@pytest.fixture
def history(hooks):
    """A log with every kind of row the purge must remove or keep (retention 30 days)."""
    a, b = hooks
    rows = {"old": [], "kept_deliveries": [], "kept_events": []}
    for i, status in enumerate(["succeeded", "failed", "cancelled"] * 3):
        event = add_event(40 * DAY)
        rows["old"].append(add_delivery(a, event, 40 * DAY, status=status, attempts=1 + i % 3))
        rows["old"].append(add_delivery(b, event, 40 * DAY, status="succeeded", attempts=1))
    # An old event without any delivery (its webhook was deleted): purged.
    rows["orphan"] = add_event(31 * DAY)
    # An old delivery still pending (a long retry): kept with its attempts and event.
    pending_event = add_event(40 * DAY)
    rows["kept_deliveries"].append(add_delivery(a, pending_event, 40 * DAY, status="pending", attempts=3))
    rows["kept_events"].append(pending_event)
    # An old event redelivered recently: the old delivery goes, the event stays.
    redelivered = add_event(35 * DAY)
    rows["old"].append(add_delivery(a, redelivered, 35 * DAY, status="failed", attempts=3))
    rows["kept_deliveries"].append(add_delivery(a, redelivered, 1 * DAY))
    rows["kept_events"].append(redelivered)
    # Recent rows: kept.
    for _ in range(3):
        event = add_event(29 * DAY)
        rows["kept_deliveries"].append(add_delivery(b, event, 29 * DAY, status="failed"))
        rows["kept_events"].append(event)
    return rows


def test_purge_removes_old_rows_and_keeps_pending_and_recent_ones(history):
    old_attempts = Attempt.objects.filter(delivery__in=history["old"]).count()
    kept_attempts = Attempt.objects.filter(delivery__in=history["kept_deliveries"]).count()
    calls = []

    counts = services.retention_purge(days=30, batch_size=4, progress=lambda n, c: calls.append((n, c)))

    assert counts == {
        "attempts": old_attempts,
        "deliveries": len(history["old"]),
        "events": 9 + 1,  # the 9 old events and the orphan
        "finished": True,
    }
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in history["kept_deliveries"]}
    assert set(Event.objects.values_list("pk", flat=True)) == {e.pk for e in history["kept_events"]}
    assert Attempt.objects.count() == kept_attempts
    assert not Attempt.objects.exclude(delivery__in=history["kept_deliveries"]).exists()
    # Bounded batches: 19 old deliveries, 4 at a time, then the leftover orphan event.
    assert [c for n, c in calls if n == "deliveries"] == [4, 8, 12, 16, 19]
    assert calls[-1] == ("events", 10)


def test_each_batch_is_one_delete_per_table(history):
    with CaptureQueriesContext(connection) as queries:
        services.retention_purge(days=30, batch_size=5)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # 19 old deliveries in batches of 5: 4 batches of 3 DELETEs (attempts,
    # deliveries, their events), then 1 for the orphan event.
    tables = [s.split()[2].strip('"') for s in deletes]
    assert tables == ["webhooks_app_attempt", "webhooks_app_delivery", "webhooks_app_event"] * 4 + [
        "webhooks_app_event"
    ]


def test_purge_stops_at_the_time_limit_and_a_second_run_finishes(history, monkeypatch):
    # Each batch "takes" 10 s on the purge's clock.
    elapsed = [0]
    clock = types.SimpleNamespace(monotonic=lambda: elapsed[0])
    monkeypatch.setattr(services.retention, "time", clock)

    def batch_done(name, count):
        elapsed[0] += 10

    first = services.retention_purge(days=30, batch_size=4, max_seconds=15, progress=batch_done)
    assert first["finished"] is False
    assert first["deliveries"] == 8  # two batches, the second passed the 15 s
    second = services.retention_purge(days=30, batch_size=4)
    assert second["finished"] is True
    assert first["deliveries"] + second["deliveries"] == len(history["old"])
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in history["kept_deliveries"]}


def test_the_periodic_purge_runs_in_slices_within_the_task_timeout(history, settings, monkeypatch):
    # A slice lasts half the django-q2 timeout at most, then the next is enqueued
    # (here run at once: Q_CLUSTER sync). A tiny timeout: one batch per slice.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 1e-6}
    runs = []
    purge = services.retention_purge

    def counted(**kwargs):
        runs.append(kwargs)
        return purge(**kwargs)

    monkeypatch.setattr(services.retention, "retention_purge", counted)

    tasks.retention_purge()

    # Deliveries (one batch), the leftover orphan event, then nothing left.
    assert len(runs) == 3
    assert all(r["max_seconds"] == 0.5e-6 for r in runs)
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in history["kept_deliveries"]}
    assert set(Event.objects.values_list("pk", flat=True)) == {e.pk for e in history["kept_events"]}


def test_retention_days_come_from_the_settings(history, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETENTION_DAYS": 36}

    counts = tasks.retention_purge()

    # Only the 40-day-old rows are past 36 days.
    assert counts["deliveries"] == 18
    assert Delivery.objects.filter(pk=history["old"][-1].pk).exists()  # 35 days old


def test_a_redelivery_of_an_old_event_during_the_purge_keeps_the_event(hooks):
    a, _ = hooks
    events = [add_event(40 * DAY) for _ in range(4)]
    for event in events:
        add_delivery(a, event, 40 * DAY)
    redelivered = []

    def progress(name, count):
        # Between two batches someone redelivers an old event of a later batch.
        if not redelivered:
            old = Delivery.objects.filter(event=events[-1]).get()
            redelivered.append(services.delivery_redeliver(delivery=old))

    counts = services.retention_purge(days=30, batch_size=1, progress=progress)

    assert counts["deliveries"] == 4
    assert counts["events"] == 3
    assert Event.objects.filter(pk=events[-1].pk).exists()
    assert list(Delivery.objects.all()) == redelivered


@pytest.mark.postgres
def test_a_redelivery_racing_the_delete_of_its_event_wins_and_the_purge_goes_on(hooks, monkeypatch):
    # The redelivery holds its event until it commits; the purge's DELETE waits,
    # then fails on the foreign key at commit; the batch is rolled back and tried
    # again: the event stays with its new delivery and the purge ends normally.
    if connection.vendor != "postgresql":
        pytest.skip("a concurrent transaction needs PostgreSQL")
    monkeypatch.setattr(services.queue, "workers_wake", lambda **kwargs: 0)
    a, _ = hooks
    event = add_event(40 * DAY)
    old = add_delivery(a, event, 40 * DAY)
    holding, release, new = threading.Event(), threading.Event(), []

    def redeliver_in_another_transaction():
        try:
            with transaction.atomic():
                new.append(services.delivery_redeliver(delivery=old))
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=redeliver_in_another_transaction)
    worker.start()
    assert holding.wait(10)
    timer = threading.Timer(1.0, release.set)  # commits while the purge's DELETE waits
    timer.start()
    try:
        counts = services.retention_purge(days=30)
    finally:
        release.set()
        worker.join(10)
        timer.cancel()

    assert counts == {"attempts": 2, "deliveries": 1, "events": 0, "finished": True}
    assert Event.objects.filter(pk=event.pk).exists()
    assert list(Delivery.objects.filter(event=event)) == new


def test_the_purge_command_prints_progress_and_a_summary(history):
    out = io.StringIO()

    call_command("webhooks_purge", "--days", "30", "--batch-size", "4", stdout=out)

    text = out.getvalue()
    assert "deliveries [" in text and "19/19" in text
    assert "events" in text
    summary = text.strip().splitlines()[-1]
    assert summary.startswith("Purged rows older than 30 days in ")
    assert summary.endswith(f"{sum(1 + i % 3 for i in range(9)) + 9 + 3} attempts, 19 deliveries, 10 events.")
    assert Delivery.objects.count() == len(history["kept_deliveries"])


def test_the_purge_command_refuses_bad_arguments(db):
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("webhooks_purge", "--batch-size", "0", stderr=err)
    assert "--batch-size" in err.getvalue()


def test_nothing_to_purge_is_quick_and_says_so(hooks):
    recent = add_event(DAY)
    add_delivery(hooks[0], recent, DAY)
    out = io.StringIO()

    call_command("webhooks_purge", stdout=out)

    assert "0 attempts, 0 deliveries, 0 events." in out.getvalue()
    assert Webhook.objects.count() == 2 and Event.objects.count() == 1
