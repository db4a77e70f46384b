"""Delivery to a real HTTP receiver: payload, headers, signatures, retries, failures, the sweep."""

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.etree import ElementTree as ET

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.models import F
from django.test import TestCase
from django.utils import timezone
from django_q.models import Schedule
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

import webhooks_app
from tests.receiver import Reply
from webhooks_app import emit, services, tasks
from webhooks_app.conf import app_settings
from webhooks_app.models import Attempt, Delivery, Webhook
from webhooks_app.schedules import schedules_ensure
from webhooks_app.signals import delivery_failed, webhook_disabled

# Commits are simulated with captureOnCommitCallbacks (each test runs in a rolled
# back transaction, much faster than truncating the tables); test_emit.py and
# test_receivers.py show on_commit with real commits and rollbacks.
pytestmark = pytest.mark.django_db

RETRIES = 5  # len(RETRY_SCHEDULE) in tests.settings


@contextlib.contextmanager
def committed():
    """A transaction whose on_commit callbacks run when it ends, as after a real commit."""
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        yield


def deliver(event_type="contact.updated", data=None, context=None):
    """Emit in a committed transaction (the first attempt runs at commit); the delivery after it."""
    with committed():
        event = emit(event_type, data={"id": 42} if data is None else data, context=context)
    return Delivery.objects.select_related("webhook", "event").get(event_id=event.pk)


def retry_now(delivery):
    """Make a pending delivery due and run its attempt as a (re)enqueued task would."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    services.delivery_attempt(delivery_id=delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def time_travel(*, seconds):
    """Move every pending delivery's clock readings back, as if ``seconds`` had passed."""
    shift = timedelta(seconds=seconds)
    Delivery.objects.filter(status=Delivery.Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - shift,
        lease_until=F("lease_until") - shift,
    )


def hex_hmac(secret, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Payload and headers ------------------------------------------------------------


def test_json_payload_has_exactly_the_documented_fields(webhook, receiver):
    delivery = deliver(
        "contact.updated",
        data={"id": 42, "email": "zoë@example.com", "accepts_email": True},
        context={"actor": "admin", "source": "admin-console"},
    )

    [request] = receiver.wait_for(1)
    payload = request.json()
    assert list(payload) == ["id", "event_type", "event_time", "current_context", "data"]
    assert payload["id"] == delivery.event_id
    assert payload["event_type"] == "contact.updated"
    event_time = datetime.strptime(payload["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(event_time - delivery.event.created_at) < timedelta(milliseconds=1)
    assert payload["current_context"] == {"actor": "admin", "source": "admin-console"}
    assert payload["data"] == {"id": 42, "email": "zoë@example.com", "accepts_email": True}
    assert request.headers["Content-Type"] == "application/json"


def test_headers_are_exactly_as_documented_and_verify(make_webhook, receiver):
    webhook = make_webhook(receiver.url, api_key="k-123456789", api_key_header="X-Partner-Token")
    before = int(time.time())

    delivery = deliver()

    [request] = receiver.wait_for(1)
    headers = request.headers
    assert request.method == "POST" and request.path == "/hook"
    assert headers["User-Agent"] == f"webhooks_app/{webhooks_app.__version__}"
    assert headers["webhook-id"] == delivery.event_id == request.json()["id"]
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert headers["webhook-signature"].startswith("v1,")
    assert request.verify(webhook.secret)["id"] == delivery.event_id
    assert headers["X-Webhook-Signature"] == hex_hmac(webhook.secret, request.body)
    assert headers["X-Webhook-Event"] == "contact.updated"
    assert headers["X-Webhook-Attempt"] == "1"
    assert headers["X-Partner-Token"] == "k-123456789"
    assert "X-API-Key" not in headers


def test_no_api_key_header_without_an_api_key(webhook, receiver):
    deliver()

    [request] = receiver.wait_for(1)
    assert not {"x-api-key", "authorization"} & {name.lower() for name in request.headers}


def test_a_wrong_secret_or_a_tampered_body_does_not_verify(webhook, receiver):
    deliver()

    [request] = receiver.wait_for(1)
    other = "whsec_" + base64.b64encode(b"another secret of 24 bytes").decode()
    with pytest.raises(WebhookVerificationError):
        request.verify(other)
    tampered = request.body.replace(b'"id":42', b'"id":43')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(webhook.secret).verify(tampered, request.headers)


def test_xml_payload_carries_the_same_fields_and_verifies(make_webhook, receiver):
    webhook = make_webhook(receiver.url, payload_format="xml")

    delivery = deliver(
        data={"id": 42, "email": "a@example.com", "accepts_email": True, "tags": ["a", "b"], "note": None},
        context={"actor": "admin"},
    )

    [request] = receiver.wait_for(1)
    assert request.headers["Content-Type"] == "application/xml"
    StandardWebhook(webhook.secret).verify(request.body, request.headers, json_parse=False)
    assert request.headers["X-Webhook-Signature"] == hex_hmac(webhook.secret, request.body)
    assert request.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(request.body)
    assert root.tag == "event"
    assert [child.tag for child in root] == ["id", "event_type", "event_time", "current_context", "data"]
    assert root.findtext("id") == delivery.event_id
    assert root.findtext("event_type") == "contact.updated"
    assert root.findtext("current_context/actor") == "admin"
    assert root.findtext("data/id") == "42"
    assert root.findtext("data/accepts_email") == "true"
    assert [item.text for item in root.findall("data/tags/item")] == ["a", "b"]
    assert root.find("data/note").get("null") == "true"


def test_attempt_log_keeps_the_request_with_secrets_redacted(make_webhook, receiver):
    make_webhook(receiver.url, api_key="secret-api-key-9876")
    receiver.default = Reply(201, headers={"X-Receiver": "yes"}, body=b"thanks")

    delivery = deliver()

    [request] = receiver.wait_for(1)
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.number == 1
    assert attempt.request_url == receiver.url
    assert attempt.request_body == request.body.decode()
    assert attempt.request_headers["webhook-id"] == delivery.event_id
    assert attempt.request_headers["X-Webhook-Attempt"] == "1"
    assert attempt.request_headers["User-Agent"] == request.headers["User-Agent"]
    assert attempt.request_headers["Content-Type"] == "application/json"
    stored = json.dumps(attempt.request_headers)
    assert "secret-api-key-9876" not in stored
    assert attempt.request_headers["X-API-Key"].endswith("9876")
    assert request.headers["webhook-signature"] not in stored
    assert request.headers["X-Webhook-Signature"] not in stored
    assert attempt.response_status == 201
    assert attempt.response_headers["X-Receiver"] == "yes"
    assert attempt.response_body == "thanks"
    assert attempt.error_class == ""
    assert attempt.duration_ms is not None


def test_after_a_secret_rotation_old_and_new_secrets_both_verify(webhook, receiver):
    old = webhook.secret
    services.webhook_secret_rotate(webhook=webhook)
    new = Webhook.objects.get(pk=webhook.pk).secret
    assert new != old and new.startswith("whsec_")

    deliver()

    [request] = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    request.verify(old)
    request.verify(new)
    # X-Webhook-Signature carries both too, the new one first (issue 10).
    assert (
        request.headers["X-Webhook-Signature"]
        == f"{hex_hmac(new, request.body)},{hex_hmac(old, request.body)}"
    )


def test_the_previous_secret_stops_signing_when_it_expires(webhook, receiver):
    old = webhook.secret
    services.webhook_secret_rotate(webhook=webhook)
    Webhook.objects.filter(pk=webhook.pk).update(previous_secret_expires_at=timezone.now())

    deliver()

    [request] = receiver.wait_for(1)
    request.verify(Webhook.objects.get(pk=webhook.pk).secret)
    with pytest.raises(WebhookVerificationError):
        request.verify(old)


# Retries -------------------------------------------------------------------------


def test_a_500_then_a_200_succeeds_on_the_retry_with_a_stable_webhook_id(webhook, receiver):
    receiver.script = [Reply(500, body=b"oops")]

    delivery = deliver()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_count == 1
    assert delivery.last_response_status == 500
    due_in = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < due_in <= app_settings.RETRY_SCHEDULE[0]

    delivery = retry_now(delivery)

    first, second = receiver.wait_for(2)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2
    assert delivery.completed_at is not None and delivery.next_attempt_at is None
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.event_id
    assert first.body == second.body
    assert [first.headers["X-Webhook-Attempt"], second.headers["X-Webhook-Attempt"]] == ["1", "2"]
    second.verify(webhook.secret)
    attempts = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.response_status, a.error_class) for a in attempts] == [
        (1, 500, "http_status"),
        (2, 200, ""),
    ]
    assert attempts[0].response_body == "oops"


def test_a_retry_is_not_made_before_it_is_due(webhook, receiver):
    receiver.default = Reply(500)
    delivery = deliver()

    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert tasks.deliveries_drain().get("claimed", 0) == 0

    assert len(receiver.requests) == 1
    assert Delivery.objects.get(pk=delivery.pk).attempt_count == 1


def test_every_attempt_failing_ends_failed_after_the_schedule(webhook, receiver):
    receiver.default = Reply(500)
    failed = []
    # Only this test's receiver goes afterwards: the app connects its own (alerts).
    delivery_failed.connect(
        lambda sender, delivery, **kw: failed.append(delivery.pk), weak=False, dispatch_uid="test-failed"
    )
    try:
        delivery = deliver()
        for _ in range(RETRIES):
            assert delivery.status == Delivery.Status.PENDING
            delivery = retry_now(delivery)
    finally:
        delivery_failed.disconnect(dispatch_uid="test-failed")

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 1 + RETRIES
    assert delivery.next_attempt_at is None
    assert Attempt.objects.filter(delivery=delivery).count() == 1 + RETRIES
    assert [r.headers["X-Webhook-Attempt"] for r in receiver.requests] == [
        str(n) for n in range(1, RETRIES + 2)
    ]
    assert failed == [delivery.pk]
    assert Webhook.objects.get(pk=webhook.pk).consecutive_failures == 1

    # A failed delivery is final: neither a late task nor the sweep sends again.
    assert retry_now(delivery).status == Delivery.Status.FAILED
    assert services.deliveries_sweep() == 0
    assert len(receiver.requests) == 1 + RETRIES


def test_retries_follow_the_schedule(webhook, receiver, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [10, 100, 1000]}
    receiver.default = Reply(500)
    delivery = deliver()
    waits = []
    for _ in range(3):
        waits.append((delivery.next_attempt_at - timezone.now()).total_seconds())
        delivery = retry_now(delivery)

    assert [round(w, -1) for w in waits] == [10, 100, 1000]
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 4


def test_a_short_retry_arms_a_timed_wakeup_and_nobody_sleeps(webhook, receiver, settings, monkeypatch):
    # A real cluster test (tests/test_cluster.py) shows the retry arriving on time;
    # here: the drain returns at once and the worker's timer is armed for the retry.
    from django_q.conf import Conf

    from webhooks_app.services import queue

    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [3, 3], "RETRY_WAKEUP_HORIZON": 10}
    armed = []
    monkeypatch.setattr(queue, "_timer_arm", armed.append)
    receiver.script = [Reply(503)]
    delivery = deliver()
    assert delivery.status == Delivery.Status.PENDING and armed == [], "no timers in sync mode"

    monkeypatch.setattr(Conf, "SYNC", False)
    started = time.monotonic()
    services.retries_schedule_wakeup()
    assert time.monotonic() - started < 1
    [delay] = armed
    assert 2 < delay <= 3

    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_WAKEUP_HORIZON": 2}
    assert services.retries_schedule_wakeup() is None, "beyond the horizon: the sweep's job"


def test_a_success_resets_the_webhook_failure_run(webhook, receiver):
    Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=3, failing_since=timezone.now())

    deliver()

    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0 and webhook.failing_since is None


def test_410_gone_disables_the_webhook_and_fails_the_delivery(webhook, receiver, django_user_model, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "NOTIFY_ON_DISABLE": True}
    django_user_model.objects.create(username="ops", email="ops@example.com", is_staff=True)
    receiver.script = [Reply(410, body=b"gone")]
    disabled = []
    webhook_disabled.connect(
        lambda sender, webhook, reason, **kw: disabled.append(reason),
        weak=False,
        dispatch_uid="test-disabled",
    )
    try:
        delivery = deliver()
    finally:
        webhook_disabled.disconnect(dispatch_uid="test-disabled")

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 1
    webhook.refresh_from_db()
    assert webhook.enabled is False
    assert "410" in webhook.disabled_reason
    assert webhook.disabled_at is not None
    assert len(disabled) == 1 and "410" in disabled[0]
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]

    # The disabled webhook receives nothing more.
    with committed():
        emit("contact.updated", data={"id": 43})
    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_on_429_and_503_delays_the_next_attempt(webhook, receiver, status, form):
    wait = 120
    value = (
        str(wait)
        if form == "seconds"
        else format_datetime(datetime.now(UTC) + timedelta(seconds=wait + 1), usegmt=True)
    )
    receiver.script = [Reply(status, headers={"Retry-After": value})]
    before = timezone.now()

    delivery = deliver()

    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at >= before + timedelta(seconds=wait - 1)
    assert delivery.next_attempt_at <= before + timedelta(seconds=wait + 5)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1


def test_retry_after_on_other_statuses_is_ignored_and_is_capped(webhook, receiver, settings):
    receiver.script = [Reply(500, headers={"Retry-After": "600"})]
    delivery = deliver()
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() <= app_settings.RETRY_SCHEDULE[0]

    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_RETRY_AFTER": 60}
    receiver.script = [Reply(429, headers={"Retry-After": "999999"})]
    delivery = deliver(data={"id": 2})
    assert 50 <= (delivery.next_attempt_at - timezone.now()).total_seconds() <= 60


# Network failures ----------------------------------------------------------------


def test_a_slow_receiver_is_recorded_as_a_timeout(make_webhook, receiver):
    make_webhook(receiver.url, timeout=1)
    receiver.script = [Reply(delay=3)]
    started = time.monotonic()

    delivery = deliver()

    assert time.monotonic() - started < 2.5
    assert delivery.status == Delivery.Status.PENDING
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.error_class == Attempt.ErrorClass.TIMEOUT
    assert attempt.response_status is None
    assert "Timed out" in attempt.error_message
    assert 900 <= attempt.duration_ms < 2500


def test_connection_refused_is_recorded_as_a_connection_error(make_webhook):
    make_webhook(f"http://127.0.0.1:{closed_port()}/hook")

    delivery = deliver()

    assert delivery.status == Delivery.Status.PENDING
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.error_class == Attempt.ErrorClass.CONNECTION
    assert attempt.error_message == "Connection refused."
    assert delivery.last_error == "Connection refused."


def test_a_connection_closed_without_an_answer_is_a_failure(webhook, receiver):
    receiver.script = [Reply(close=True)]

    delivery = deliver()

    assert delivery.status == Delivery.Status.PENDING
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.response_status is None
    assert attempt.error_class in (Attempt.ErrorClass.INTERRUPTED, Attempt.ErrorClass.CONNECTION)


def test_an_oversized_response_is_capped_and_still_a_success(webhook, receiver):
    receiver.script = [Reply(200, stream_bytes=5 * 1024 * 1024)]
    started = time.monotonic()

    delivery = deliver()

    assert time.monotonic() - started < 3
    assert delivery.status == Delivery.Status.SUCCEEDED
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.response_truncated is True
    assert len(attempt.response_body.encode()) == app_settings.MAX_RESPONSE_BYTES
    assert set(attempt.response_body) == {"x"}


def test_a_redirect_is_not_followed_and_counts_as_a_failure(webhook, receiver):
    receiver.script = [Reply(302, headers={"Location": receiver.url.replace("/hook", "/elsewhere")})]

    delivery = deliver()

    assert [r.path for r in receiver.requests] == ["/hook"]
    assert delivery.status == Delivery.Status.PENDING
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.response_status == 302
    assert attempt.error_class == Attempt.ErrorClass.REDIRECT
    assert "/elsewhere" in attempt.error_message


# Duplicate tasks and the lease ------------------------------------------------------


def test_a_duplicate_task_for_a_finished_delivery_sends_nothing(webhook, receiver):
    from django_q.tasks import async_task

    delivery = deliver()
    assert delivery.status == Delivery.Status.SUCCEEDED

    assert tasks.delivery_run(delivery.pk).get("claimed", 0) == 0
    async_task(services.DRAIN_TASK)
    services.workers_wake(count=2)

    assert len(receiver.requests) == 1
    assert Attempt.objects.filter(delivery=delivery).count() == 1
    assert Delivery.objects.get(pk=delivery.pk).attempt_count == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_for_one_delivery_send_it_once(webhook, receiver, monkeypatch):
    monkeypatch.setattr(services.queue, "workers_wake", lambda **kwargs: 0)
    delivery = deliver()
    monkeypatch.undo()
    receiver.default = Reply(delay=0.5)
    results = []

    def worker():
        try:
            results.append(services.delivery_attempt(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert len(receiver.requests) == 1
    assert sum(r is not None for r in results) == 1
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 1


def test_a_task_for_a_disabled_webhook_cancels_the_delivery(webhook, receiver):
    with committed():
        event = emit("contact.updated", data={"id": 1})
        Webhook.objects.filter(pk=webhook.pk).update(enabled=False)

    delivery = Delivery.objects.get(event_id=event.pk)
    assert delivery.status == Delivery.Status.CANCELLED
    assert delivery.attempt_count == 0
    assert receiver.requests == []


def test_a_test_event_reaches_a_disabled_webhook(make_webhook, receiver):
    webhook = make_webhook(receiver.url, enabled=False)

    with committed():
        delivery = services.webhook_send_test(webhook=webhook)

    [request] = receiver.wait_for(1)
    payload = request.verify(webhook.secret)
    assert payload["event_type"] == "webhook.test"
    assert payload["data"]["webhook"] == {"id": webhook.pk, "name": webhook.name}
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED
    assert Webhook.objects.get(pk=webhook.pk).enabled is False


# The sweep ----------------------------------------------------------------------------


def test_a_delivery_never_enqueued_is_delivered_by_the_sweep(webhook, receiver, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    delivery = deliver()
    assert delivery.status == Delivery.Status.PENDING
    assert receiver.requests == []
    monkeypatch.undo()

    assert services.deliveries_sweep() == 1

    [request] = receiver.wait_for(1)
    request.verify(webhook.secret)
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED
    assert services.deliveries_sweep() == 0


def test_a_delivery_whose_worker_died_is_recovered_after_its_lease(webhook, receiver, monkeypatch):
    monkeypatch.setattr(services.queue, "workers_wake", lambda **kwargs: 0)
    delivery = deliver()
    monkeypatch.undo()
    # A worker claimed the delivery and died before sending anything.
    assert [d.pk for d in services.deliveries_claim(limit=10)] == [delivery.pk]
    assert services.deliveries_claim(limit=10) == [], "leased: nobody else takes it"

    assert services.deliveries_sweep() == 0, "the lease still holds"
    assert receiver.requests == []

    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.deliveries_sweep() == 1

    [request] = receiver.wait_for(1)
    request.verify(webhook.secret)
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2, "the lost attempt is counted"
    assert request.headers["X-Webhook-Attempt"] == "2"


def test_a_wakeup_lost_by_the_broker_costs_one_sweep(webhook, receiver, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: "lost")
    delivery = deliver()
    monkeypatch.undo()
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING

    assert services.deliveries_sweep() == 1
    receiver.wait_for(1)
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED


def test_the_sweep_runs_due_retries(webhook, receiver):
    receiver.script = [Reply(500)]
    delivery = deliver()
    assert services.deliveries_sweep() == 0, "the retry is not due yet"

    time_travel(seconds=app_settings.RETRY_SCHEDULE[0])
    assert tasks.deliveries_sweep() == 1

    assert len(receiver.wait_for(2)) == 2
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED


def test_schedules_ensure_is_idempotent(settings):
    Schedule.objects.all().delete()
    schedules_ensure()
    schedules_ensure()
    assert sorted(Schedule.objects.values_list("name", flat=True)) == [
        "webhooks_app.purge",
        "webhooks_app.sweep",
    ]

    sweep = Schedule.objects.get(name="webhooks_app.sweep")
    assert sweep.func == "webhooks_app.tasks.deliveries_sweep"
    assert sweep.schedule_type == Schedule.MINUTES and sweep.minutes == app_settings.SWEEP_MINUTES
    assert sweep.repeats == -1

    # Copies made by a second cluster are removed; a changed setting is applied.
    Schedule.objects.create(name="webhooks_app.sweep", func=sweep.func, schedule_type=Schedule.MINUTES)
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SWEEP_MINUTES": 5}
    schedules_ensure()
    assert Schedule.objects.filter(name="webhooks_app.sweep").count() == 1
    assert Schedule.objects.get(name="webhooks_app.sweep").minutes == 5
    assert Schedule.objects.filter(name="webhooks_app.purge").count() == 1
