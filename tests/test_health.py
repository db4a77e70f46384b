"""GET /healthz and manage.py webhooks_status: healthy until due deliveries wait too long or the
database does not answer.

Deliveries are real rows: an event emitted inside the test's transaction wakes no
worker (its on-commit wake-up never runs), so its delivery waits until the test
drains it in this process, to a real local receiver.
"""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from webhooks_app import services
from webhooks_app.metrics.reads import backlog_read, health_check
from webhooks_app.models import Delivery

pytestmark = pytest.mark.django_db


def healthz(client=None):
    response = (client or Client()).get("/healthz")
    return response.status_code, response.json(), response


def waiting(webhook, *, seconds: float, data=None) -> Delivery:
    """A delivery of a new event, due ``seconds`` ago and held by no worker."""
    event = services.event_emit(event_type="contact.updated", data=data or {"id": 1}, webhooks=[webhook])
    delivery = Delivery.objects.get(event=event, webhook=webhook)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=seconds)
    )
    return delivery


def status_command(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("webhooks_status", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_healthy_with_nothing_due_open_to_anyone_and_never_cached():
    status, body, response = healthz()
    assert (status, body) == (200, {"status": "ok"})
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "application/json"
    assert Client().head("/healthz").status_code == 200
    assert Client().post("/healthz").status_code == 405


def test_a_pile_of_due_deliveries_turns_it_503_and_a_drain_turns_it_200_again(webhook, receiver):
    waiting(webhook, seconds=10)
    assert healthz()[:2] == (200, {"status": "ok"}), "a young backlog is healthy"
    old = waiting(webhook, seconds=400)

    status, body, response = healthz()

    assert status == 503
    assert set(body) == {"status", "reason"} and body["status"] == "unhealthy"
    assert "oldest due delivery has waited 400 s" in body["reason"]
    assert "HEALTH_MAX_LAG" in body["reason"]
    assert webhook.name not in response.content.decode() and webhook.url not in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    services.deliveries_drain()

    assert Delivery.objects.get(pk=old.pk).status == Delivery.Status.SUCCEEDED
    assert len(receiver.requests) == 2
    assert healthz()[:2] == (200, {"status": "ok"})


def test_the_limit_is_the_setting(webhook, settings):
    waiting(webhook, seconds=400)
    settings.WEBHOOKS = {**settings.WEBHOOKS, "HEALTH_MAX_LAG": 1000}
    assert healthz()[0] == 200
    settings.WEBHOOKS = {**settings.WEBHOOKS, "HEALTH_MAX_LAG": 60}
    assert healthz()[0] == 503


def test_a_delivery_a_worker_holds_is_in_flight_not_due_until_its_lease_runs_out(webhook):
    delivery = waiting(webhook, seconds=400)
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    assert healthz()[0] == 200
    backlog = backlog_read()
    assert (backlog.due, backlog.in_flight) == (0, 1)

    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert healthz()[0] == 503, "an expired lease is a worker that died: the delivery is due"
    assert (backlog_read().due, backlog_read().in_flight) == (1, 0)


def test_finished_and_future_deliveries_are_not_due(webhook):
    done = waiting(webhook, seconds=900)
    Delivery.objects.filter(pk=done.pk).update(status=Delivery.Status.FAILED)
    later = waiting(webhook, seconds=-3600)  # a retry due in an hour
    assert Delivery.objects.get(pk=later.pk).status == Delivery.Status.PENDING
    assert healthz()[0] == 200
    assert backlog_read().due == 0


def test_while_sending_is_switched_off_the_lag_is_not_judged(webhook):
    waiting(webhook, seconds=400)
    services.webhook_settings_update(enabled=False)

    assert healthz()[:2] == (200, {"status": "ok"})
    code, out = status_command()
    assert code == 0
    assert "switched off site-wide" in out

    services.webhook_settings_update(enabled=True)
    assert healthz()[0] == 503


@pytest.fixture
def database_down():
    """The default database made unreachable for real: a file that cannot be opened (SQLite) or a
    closed port on 127.0.0.1 (PostgreSQL), restored afterwards."""
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-directory/webhooks.sqlite3"
    else:
        settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", "1"
    yield
    connection.close()
    settings_dict.clear()
    settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_database_that_does_not_answer_is_503_with_the_reason_and_nothing_else(database_down):
    status, body, response = healthz()
    assert (status, body) == (503, {"status": "unhealthy", "reason": "The database does not answer."})
    assert "nonexistent" not in response.content.decode() and "5432" not in response.content.decode()

    code, out = status_command("--json")
    assert code == 1
    report = json.loads(out)
    assert report["database"] is False and report["status"] == "unhealthy"


def test_the_status_command_prints_the_backlog_per_webhook(make_webhook, receiver):
    crm = make_webhook(receiver.url, name="CRM sync")
    erp = make_webhook(receiver.url, name="ERP")
    waiting(crm, seconds=30)
    waiting(crm, seconds=20)
    held = waiting(erp, seconds=10)
    Delivery.objects.filter(pk=held.pk).update(lease_until=timezone.now() + timedelta(seconds=30))

    code, out = status_command()

    assert code == 0, out
    assert out.splitlines()[0] == "Healthy"
    assert "Due deliveries:      2" in out and "In flight:           1" in out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith("  ") and "ID" not in line
    }
    assert rows[str(crm.pk)][1:4] == ["CRM", "sync", "2"]
    assert rows[str(erp.pk)][1:4] == ["ERP", "0", "1"]

    waiting(erp, seconds=600)
    code, out = status_command("--json")
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "unhealthy" and "600 s" in report["reason"]
    assert report["due"] == 3 and report["in_flight"] == 1
    assert report["max_lag_seconds"] == 300 and report["oldest_due_seconds"] >= 600
    by_id = {w["webhook_id"]: w for w in report["webhooks"]}
    assert by_id[erp.pk]["due"] == 1 and by_id[erp.pk]["in_flight"] == 1
    assert by_id[crm.pk]["name"] == "CRM sync" and by_id[crm.pk]["due"] == 2
    assert report["webhooks"][0]["webhook_id"] == erp.pk, "the oldest first"


def test_health_check_reads_are_few(webhook, django_assert_max_num_queries):
    waiting(webhook, seconds=5)
    with django_assert_max_num_queries(2):
        assert health_check().ok
