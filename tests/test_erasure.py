"""Erasure by data subject: the subject's events and attempt bodies erased in place, everyone else's
left alone, the log's counts unchanged, logged, found by an index, safe beside a worker sending one of
them, resumable after a kill, and the same through the command and the API.

Deliveries are real: sent in this process (Q_CLUSTER sync) to a real local receiver.
"""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.receiver import Reply
from webhooks_app import emit, services
from webhooks_app.exceptions import WebhookValidationError
from webhooks_app.models import Attempt, Delivery, Erasure, Event
from webhooks_app.services.erasure import (
    ERASED,
    events_of_subject,
    subject_erase,
    subject_hash,
    subject_index_name,
    subject_indexes_ensure,
)

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB = "alice@example.com", "bob@example.com"


def deliver(data, context=None):
    with transaction.atomic():
        return emit("contact.updated", data=data, context=context or {})


def log_counts():
    """What the delivery log counts: deliveries per webhook and status, attempts per delivery."""
    return (
        sorted(Delivery.objects.values_list("webhook_id", "status").annotate(n=Count("pk"))),
        sorted(Attempt.objects.values_list("delivery_id").annotate(n=Count("pk"))),
        Event.objects.count(),
    )


def waiting(webhook, data) -> Delivery:
    """A due delivery of a new event, written directly: no worker is woken for it."""
    event = Event.objects.create(event_type="contact.updated", data=data)
    return Delivery.objects.create(
        webhook=webhook, event=event, event_type=event.event_type, next_attempt_at=timezone.now()
    )


def worker_sending(delivery) -> threading.Thread:
    """A worker (a thread with its own database connection) that claims, sends and records one delivery."""

    def work():
        try:
            services.delivery_attempt(delivery_id=delivery.pk)
        finally:
            connections.close_all()

    return threading.Thread(target=work)


def everything_stored_about(erasure: Erasure) -> str:
    return json.dumps({f.attname: str(getattr(erasure, f.attname)) for f in Erasure._meta.concrete_fields})


@pytest.fixture
def history(webhook, receiver):
    """Alice's and Bob's events, each delivered (one of Alice's after a failed try)."""
    receiver.script = [Reply(500)]
    events = {
        "alice": [
            deliver({"id": 1, "email": ALICE, "name": "Alice"}, {"user_id": "u1", "actor": "admin"}),
            deliver({"id": 1, "email": ALICE, "accepts_email": False}),
        ],
        "bob": [deliver({"id": 2, "email": BOB, "name": "Bob"}, {"user_id": "u2"})],
        "other": [deliver({"id": 3, "email": "carol@example.com", "note": f"knows {ALICE}"})],
    }
    # Alice's first delivery, retried after its 500 (due now rather than in a second).
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    services.deliveries_drain()
    return events


pytestmark = pytest.mark.django_db(transaction=True)


def test_one_subject_is_erased_everyone_else_kept_and_the_log_counts_unchanged(history, receiver):
    assert Delivery.objects.filter(status="succeeded").count() == 4
    counts = log_counts()

    erasure = subject_erase(key="email", value=ALICE, source="test")

    assert erasure.status == Erasure.Status.FINISHED and erasure.finished_at
    assert (erasure.total, erasure.events, erasure.attempts, erasure.deliveries_cancelled) == (2, 2, 3, 0)
    assert log_counts() == counts, "deliveries, statuses and attempts stay"
    for event in history["alice"]:
        event.refresh_from_db()
        assert (event.data, event.context) == ({}, {"erasure": erasure.pk})
        assert event.event_type == "contact.updated"
        for attempt in Attempt.objects.filter(delivery__event=event):
            assert (attempt.request_body, attempt.response_body) == (ERASED, "")
            assert attempt.response_status in (200, 500) and attempt.duration_ms is not None
            assert ALICE not in json.dumps(attempt.request_headers)
    bob = Event.objects.get(pk=history["bob"][0].pk)
    assert bob.data["email"] == BOB and bob.context["user_id"] == "u2"
    assert BOB in Attempt.objects.get(delivery__event=bob).request_body
    # A mention elsewhere than at a declared path is not the subject.
    assert Event.objects.get(pk=history["other"][0].pk).data["note"] == f"knows {ALICE}"
    # The log: the key and an HMAC, never the value.
    assert erasure.subject_key == "email" and erasure.subject_hash == subject_hash(key="email", value=ALICE)
    assert ALICE not in everything_stored_about(erasure) and "alice" not in everything_stored_about(erasure)
    # Asked again: a new, empty erasure; nothing matches any more.
    again = subject_erase(key="email", value=ALICE)
    assert again.pk != erasure.pk and (again.total, again.events) == (0, 0)


def test_a_context_path_and_values_compared_as_text(webhook, receiver):
    by_context = deliver({"id": 10}, {"user_id": "u-7", "source": "api"})
    as_number = deliver({"id": 42, "email": "x@example.com"})
    as_text = deliver({"id": "42", "email": "y@example.com"})
    kept = deliver({"id": 420})

    assert subject_erase(key="$context.user_id", value="u-7").events == 1
    assert subject_erase(key="id", value=42).events == 2

    assert Event.objects.get(pk=by_context.pk).context == {
        "erasure": Erasure.objects.order_by("pk").first().pk
    }
    assert Event.objects.get(pk=as_number.pk).data == {} and Event.objects.get(pk=as_text.pk).data == {}
    assert Event.objects.get(pk=kept.pk).data == {"id": 420}


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("name", "Alice", "key"),
        ("email", "", "value"),
        ("email", {"a": 1}, "value"),
        ("email", True, "value"),
    ],
)
def test_only_declared_paths_and_plain_values(key, value, field):
    with pytest.raises(WebhookValidationError) as caught:
        subject_erase(key=key, value=value)
    assert caught.value.field == field
    assert not Erasure.objects.exists()


def test_nothing_declared_is_said(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SUBJECT_PATHS": []}
    with pytest.raises(WebhookValidationError, match="SUBJECT_PATHS"):
        subject_erase(key="email", value=ALICE)


def test_pending_deliveries_of_erased_events_are_cancelled_and_never_sent(webhook, receiver):
    # Sending off: the deliveries wait, as a retry or a stopped cluster would leave them.
    services.webhook_settings_update(enabled=False)
    event = deliver({"id": 1, "email": ALICE})
    other = deliver({"id": 2, "email": BOB})

    erasure = subject_erase(key="email", value=ALICE)

    assert erasure.deliveries_cancelled == 1 and erasure.status == Erasure.Status.FINISHED
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.CANCELLED
    assert delivery.last_error == f"Not sent: the event's data was erased (erasure {erasure.pk})."
    services.webhook_settings_update(enabled=True)
    services.deliveries_drain()
    assert [r.json()["data"]["email"] for r in receiver.requests] == [BOB]
    assert Delivery.objects.get(event=other).status == Delivery.Status.SUCCEEDED


# Beside a worker that is sending one of the subject's deliveries ---------------------------------


def test_an_attempt_recorded_after_the_erasure_by_a_worker_in_flight_is_erased_too(webhook, receiver):
    delivery = waiting(webhook, {"id": 1, "email": ALICE})
    receiver.script = [Reply(200, delay=1.5)]  # the worker is inside its request for 1.5 s
    worker = worker_sending(delivery)
    worker.start()
    receiver.wait_for(1, timeout=10)
    assert Delivery.objects.get(pk=delivery.pk).lease_until is not None

    erasure = subject_erase(key="email", value=ALICE, wait_seconds=0)

    assert erasure.status == Erasure.Status.SETTLING and erasure.in_flight == [delivery.pk]
    assert Event.objects.get(pk=delivery.event_id).data == {}
    worker.join(10)
    # The worker recorded its attempt with the payload it held: the subject, written after the erasure.
    attempt = Attempt.objects.get(delivery=delivery)
    assert ALICE in attempt.request_body
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED

    resumed = subject_erase(key="email", value=ALICE, wait_seconds=0)

    assert resumed.pk == erasure.pk and resumed.status == Erasure.Status.FINISHED
    attempt.refresh_from_db()
    assert (attempt.request_body, attempt.response_body) == (ERASED, "")
    assert resumed.attempts == 1 and resumed.events == 1
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED, "its outcome stays"


def test_waiting_for_the_worker_in_flight_finishes_in_one_call(webhook, receiver):
    delivery = waiting(webhook, {"id": 1, "email": ALICE})
    receiver.script = [Reply(500, delay=1.0)]  # fails: a retry would be due in 1 s
    worker = worker_sending(delivery)
    worker.start()
    receiver.wait_for(1, timeout=10)

    erasure = subject_erase(key="email", value=ALICE, wait_seconds=None)

    worker.join(10)
    assert erasure.status == Erasure.Status.FINISHED
    assert Attempt.objects.get(delivery=delivery).request_body == ERASED
    # Its retry will never send the erased event: the delivery was cancelled once the worker let go.
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.CANCELLED
    time.sleep(1.2)
    services.deliveries_drain()
    assert len(receiver.requests) == 1


# Found by an index ---------------------------------------------------------------------------


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            rows = cursor.fetchall()
            cursor.execute("RESET enable_seqscan")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            rows = cursor.fetchall()
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


def test_each_declared_path_has_its_index_and_the_erasure_query_uses_it(settings):
    for path in settings.WEBHOOKS["SUBJECT_PATHS"]:
        matching = events_of_subject(key=path, value="x").filter(pk__gt="").order_by("pk")[:500]
        assert subject_index_name(path) in plan(matching), (path, plan(matching))


def test_migrate_indexes_new_paths_and_drops_those_no_longer_declared(settings):
    declared = list(settings.WEBHOOKS["SUBJECT_PATHS"])

    def indexes():
        with connection.cursor() as cursor:
            names = connection.introspection.get_constraints(cursor, Event._meta.db_table)
        return {n for n in names if n.startswith("wh_subj_")}

    assert indexes() == {subject_index_name(p) for p in declared}
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SUBJECT_PATHS": ["email", "customer.email"]}
    try:
        done = subject_indexes_ensure()
        assert done["created"] == [subject_index_name("customer.email")]
        assert indexes() == {subject_index_name("email"), subject_index_name("customer.email")}
        deliver_free = Event.objects.create(event_type="contact.updated", data={"customer": {"email": ALICE}})
        assert list(events_of_subject(key="customer.email", value=ALICE)) == [deliver_free]
        assert subject_indexes_ensure() == {"created": [], "dropped": []}
    finally:
        settings.WEBHOOKS = {**settings.WEBHOOKS, "SUBJECT_PATHS": declared}
        subject_indexes_ensure()
    assert indexes() == {subject_index_name(p) for p in declared}


# The command -----------------------------------------------------------------------------------


def test_the_command_erases_with_a_progress_bar_and_says_what_it_did(history):
    out = io.StringIO()
    call_command("webhooks_erase", "--subject", f"email={ALICE}", "--batch-size", "1", stdout=out)
    text = out.getvalue()
    assert "events [" in text and "2/2" in text
    erasure = Erasure.objects.get()
    assert f"Erasure {erasure.pk} by email finished" in text and "2 events, 3 attempts erased" in text
    assert erasure.source == "command" and erasure.actor_name.startswith("manage.py (")

    with pytest.raises(CommandError, match="KEY=VALUE"):
        call_command("webhooks_erase", "--subject", ALICE)
    with pytest.raises(CommandError, match="not a declared subject path"):
        call_command("webhooks_erase", "--subject", "name=Alice")


def test_the_command_resumes_after_a_kill(webhook):
    """A run killed mid-way leaves its erasure with the batches it committed; run again, it finishes
    the same erasure: every event erased once, counted once."""
    total = 3000
    Event.objects.bulk_create(
        [Event(event_type="contact.updated", data={"id": i, "email": ALICE}) for i in range(total)]
        + [Event(event_type="contact.updated", data={"id": -1, "email": BOB})]
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WEBHOOKS_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
    }
    command = [
        sys.executable,
        "manage.py",
        "webhooks_erase",
        "--subject",
        f"email={ALICE}",
        "--batch-size",
        "2",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not Erasure.objects.filter(events__gte=20).exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command made no progress"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(10)
    killed = Erasure.objects.get()
    assert killed.status == Erasure.Status.RUNNING
    assert 20 <= killed.events < total, "killed mid-way"
    assert Event.objects.filter(data={}).count() == killed.events, "each committed batch moved the cursor"

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stderr
    assert f"{total}/{total}" in again.stdout
    finished = Erasure.objects.get()
    assert finished.pk == killed.pk and finished.status == Erasure.Status.FINISHED
    assert finished.events == total and finished.total == total
    assert not events_of_subject(key="email", value=ALICE).exists()
    assert events_of_subject(key="email", value=BOB).count() == 1


# The API ---------------------------------------------------------------------------------------


def api_user(*codenames) -> APIClient:
    user = User.objects.create_user(f"user{User.objects.count()}", password="pw")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_api_erases_logs_who_and_lists_the_log(history):
    eraser = api_user("add_erasure")
    response = eraser.post("/api/erasures/", {"key": "email", "value": ALICE}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "finished" and (body["events"], body["attempts"]) == (2, 3)
    assert body["actor"] == User.objects.get(username__startswith="user").username
    assert body["source"] == "api" and body["subject_key"] == "email"
    assert ALICE not in response.content.decode()
    erasure = Erasure.objects.get()
    assert erasure.actor.username == body["actor"]

    assert eraser.get("/api/erasures/").status_code == 403, "listing the log needs view_erasure"
    listed = api_user("view_erasure").get("/api/erasures/")
    assert listed.status_code == 200 and listed.json()["results"][0]["id"] == erasure.pk
    assert api_user("view_erasure").post("/api/erasures/", {"key": "email", "value": BOB}).status_code == 403
    assert (
        api_user("view_webhook", "view_delivery")
        .post("/api/erasures/", {"key": "email", "value": BOB})
        .status_code
        == 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "name", "value": "Alice"}, "key"),
        ({"key": "email", "value": ""}, "value"),
        ({"key": "email", "value": [ALICE]}, "value"),
        ({"key": "email"}, "value"),
        ({"value": ALICE}, "key"),
    ],
)
def test_the_api_says_what_is_wrong_with_a_400(body, field):
    response = api_user("add_erasure").post("/api/erasures/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Erasure.objects.exists()


def test_the_api_answers_202_while_a_worker_is_in_flight_and_201_once_asked_again(
    webhook, receiver, monkeypatch
):
    delivery = waiting(webhook, {"id": 1, "email": ALICE})
    receiver.script = [Reply(200, delay=1.5)]
    worker = worker_sending(delivery)
    worker.start()
    receiver.wait_for(1, timeout=10)
    monkeypatch.setattr("webhooks_app.api.erasures.REQUEST_SECONDS", 0.1)
    client = api_user("add_erasure")

    first = client.post("/api/erasures/", {"key": "email", "value": ALICE}, format="json")

    assert first.status_code == 202 and first.json()["status"] == "settling"
    worker.join(10)
    second = client.post("/api/erasures/", {"key": "email", "value": ALICE}, format="json")
    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    assert Attempt.objects.get(delivery=delivery).request_body == ERASED


def test_the_api_is_throttled_like_every_write(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "API_THROTTLE_RATES": {"writes": "1/min"}}
    client = api_user("add_erasure")
    assert client.post("/api/erasures/", {"key": "email", "value": ALICE}, format="json").status_code == 201
    throttled = client.post("/api/erasures/", {"key": "email", "value": BOB}, format="json")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers


def test_the_batches_are_bounded():
    Event.objects.bulk_create(
        [Event(event_type="contact.updated", data={"id": i, "email": ALICE}) for i in range(7)]
    )
    calls = []
    erasure = subject_erase(
        key="email", value=ALICE, batch_size=3, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(3, 7), (6, 7), (7, 7)]
    assert erasure.cursor == max(Event.objects.values_list("pk", flat=True))


# At scale (PostgreSQL) ----------------------------------------------------------------------


@pytest.mark.postgres
def test_one_subject_among_100000_events_on_postgresql(webhook):
    """The figure is printed (run with -s); tests/bench/bench_operations.py measures the same at any size."""
    if connection.vendor != "postgresql":
        pytest.skip("the 100,000-event erasure is measured on PostgreSQL")
    from tests.bench.bench_operations import ALICE as SUBJECT
    from tests.bench.bench_operations import fill

    with connection.cursor() as cursor:
        fill(cursor, events=100_000, alice_events=25)
    counts = (Event.objects.count(), Delivery.objects.count(), Attempt.objects.count())
    others = sorted(
        Delivery.objects.exclude(event__data__email=SUBJECT).values_list("status").annotate(n=Count("pk"))
    )
    assert counts == (100_000, 100_000, 100_000)

    started = time.perf_counter()
    erasure = subject_erase(key="email", value=SUBJECT)
    elapsed = time.perf_counter() - started
    print(f"\nErased 1 subject ({erasure.events} events) among 100,000 events in {elapsed:.3f} s")

    assert erasure.status == Erasure.Status.FINISHED
    assert (erasure.total, erasure.events, erasure.attempts) == (25, 25, 25)
    assert (Event.objects.count(), Delivery.objects.count(), Attempt.objects.count()) == counts
    assert Event.objects.filter(data={}).count() == 25
    assert Event.objects.filter(data__email__startswith="user").count() == 99_975
    assert Attempt.objects.filter(request_body=ERASED).count() == 25
    assert not Attempt.objects.filter(request_body__contains=SUBJECT).exists()
    assert (
        sorted(Delivery.objects.exclude(event__data={}).values_list("status").annotate(n=Count("pk")))
        == others
    )
