"""GET /metrics: who may read it, what the database-read figures say after real deliveries, the
in-process metrics the engine will feed (webhooks_app.observe), multiprocess mode, and the app
without the metrics extra.

The exposition is parsed with prometheus_client.parser, as Prometheus reads it.
Deliveries run in this process (Q_CLUSTER sync) against a real local receiver.
"""

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.receiver import Receiver, Reply
from webhooks_app import emit, observe, services
from webhooks_app.models import Delivery, Event, PurgedDeliveryCount

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "METRICS_TOKEN": TOKEN}


def scrape(client=None, token=TOKEN):
    client = client or Client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers)


def samples(response=None) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape."""
    response = response or scrape()
    assert response.status_code == 200, response.content
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels):
    return found.get((name, frozenset(labels.items())))


def staff(username, *codenames, is_staff=True, superuser=False) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=is_staff, is_superuser=superuser)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


# Who may read it --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scraper_needs_the_token_and_people_need_staff_with_the_view_permission(settings):
    anonymous = scrape(token=None)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    wrong = scrape(token="not-the-metrics-token-0123456789")
    assert wrong.status_code == 401 and "invalid_token" in wrong["WWW-Authenticate"]
    assert "webhooks_deliveries" not in wrong.content.decode()
    good = scrape()
    assert good.status_code == 200 and "no-store" in good["Cache-Control"]
    assert good["Content-Type"].startswith("text/plain; version=0.0.4")

    assert scrape(staff("viewer", "view_webhook"), token=None).status_code == 200
    assert scrape(staff("root", superuser=True), token=None).status_code == 200
    assert scrape(staff("nobody"), token=None).status_code == 403
    assert scrape(staff("deliveries", "view_delivery"), token=None).status_code == 403
    refused = scrape(staff("customer", "view_webhook", is_staff=False), token=None)
    assert refused.status_code == 403 and "webhooks_deliveries" not in refused.content.decode()

    # A list of tokens while rotating; none configured: only people.
    settings.WEBHOOKS = {**settings.WEBHOOKS, "METRICS_TOKEN": ["old-token-0123456789abcdefgh", TOKEN]}
    assert scrape(token="old-token-0123456789abcdefgh").status_code == 200
    assert scrape().status_code == 200
    settings.WEBHOOKS = {**settings.WEBHOOKS, "METRICS_TOKEN": None}
    assert scrape().status_code == 401
    assert scrape(staff("viewer2", "view_webhook"), token=None).status_code == 200


@pytest.mark.django_db
def test_openmetrics_when_the_scraper_asks_for_it():
    response = Client().get(
        "/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


# The database's figures after real deliveries -----------------------------------------------


def deliver(n=1, **data):
    for i in range(n):
        with transaction.atomic():
            emit("contact.updated", data={"id": i, **data})


@pytest.mark.django_db(transaction=True)
def test_the_counters_and_gauges_follow_real_deliveries(make_webhook, receiver, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [], "AUTO_DISABLE_FAILURES": None}
    broken = Receiver().start()
    try:
        broken.default = Reply(500)
        good = make_webhook(receiver.url, name="Good receiver")
        bad = make_webhook(broken.url + "/secret-path?token=abc", name="Broken receiver")
        before = samples()
        assert value(before, "webhooks_database_up") == 1
        assert value(before, "webhooks_deliveries_total", webhook=str(good.pk), outcome="succeeded") is None

        deliver(3)
    finally:
        broken.stop()

    assert len(receiver.requests) == 3 and len(broken.requests) == 3
    found = samples()
    assert value(found, "webhooks_deliveries_total", webhook=str(good.pk), outcome="succeeded") == 3
    assert value(found, "webhooks_deliveries_total", webhook=str(bad.pk), outcome="failed") == 3
    assert value(found, "webhooks_deliveries_total", webhook=str(bad.pk), outcome="succeeded") is None
    assert value(found, "webhooks_lag_seconds") == 0
    assert value(found, "webhooks_webhooks", state="enabled") == 2
    assert value(found, "webhooks_webhooks", state="disabled") == 0
    assert value(found, "webhooks_sending_enabled") == 1

    # A pile: a delivery due 400 s ago that no worker holds, and one being sent.
    # (Rows written directly: an emit here would wake this process' sync worker at once.)
    services.webhook_set_enabled(webhook=bad, enabled=False)
    now = timezone.now()
    for age, lease in ((400, None), (5, now + timedelta(seconds=60))):
        event = Event.objects.create(event_type="contact.updated", data={"id": age})
        Delivery.objects.create(
            webhook=good,
            event=event,
            event_type=event.event_type,
            next_attempt_at=now - timedelta(seconds=age),
            lease_until=lease,
        )

    found = samples()
    assert value(found, "webhooks_deliveries_due", webhook=str(good.pk)) == 1
    assert value(found, "webhooks_deliveries_in_flight", webhook=str(good.pk)) == 1
    assert value(found, "webhooks_deliveries_due_oldest_seconds", webhook=str(good.pk)) >= 400
    assert value(found, "webhooks_lag_seconds") >= 400
    assert value(found, "webhooks_webhooks", state="disabled") == 1
    # Bounded labels: ids, never a URL, a name or a secret.
    text = scrape().content.decode()
    for leak in ("Good receiver", "Broken receiver", "secret-path", "token=abc", "127.0.0.1"):
        assert leak not in text
    labels = {name for (_, pairs) in found for name, _ in pairs}
    assert labels <= {"webhook", "outcome", "state", "error_class", "le"}


@pytest.mark.django_db
def test_the_deliveries_counter_does_not_go_down_when_the_purge_deletes_the_log(make_webhook):
    hook = make_webhook("http://127.0.0.1:9/a")
    old = timezone.now() - timedelta(days=40)
    for status in ["succeeded"] * 5 + ["failed"] * 2 + ["cancelled"]:
        event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[hook])
        Delivery.objects.filter(event=event).update(status=status, created_at=old, next_attempt_at=None)
    recent = services.event_emit(event_type="contact.updated", data={"id": 2}, webhooks=[hook])
    Delivery.objects.filter(event=recent).update(status="succeeded", next_attempt_at=None)
    label = str(hook.pk)
    before = samples()
    assert value(before, "webhooks_deliveries_total", webhook=label, outcome="succeeded") == 6

    counts = services.retention_purge(days=30, batch_size=3)

    assert counts["deliveries"] == 8 and Delivery.objects.count() == 1
    after = samples()
    for outcome, expected in (("succeeded", 6), ("failed", 2), ("cancelled", 1)):
        assert value(after, "webhooks_deliveries_total", webhook=label, outcome=outcome) == expected
    assert dict(PurgedDeliveryCount.objects.values_list("status", "count")) == {
        "succeeded": 5,
        "failed": 2,
        "cancelled": 1,
    }
    # Deleting the webhook removes its series (and its purged counts) altogether.
    services.webhook_delete(webhook=hook)
    assert value(samples(), "webhooks_deliveries_total", webhook=label, outcome="succeeded") is None
    assert not PurgedDeliveryCount.objects.exists()


@pytest.fixture
def database_down():
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
def test_a_scrape_while_the_database_is_down_says_so(database_down):
    found = samples()
    assert value(found, "webhooks_database_up") == 0
    assert not [name for name, _ in found if name.startswith("webhooks_deliveries")]


# The in-process metrics the engine will feed ----------------------------------------------


@pytest.mark.django_db
def test_the_observe_functions_feed_the_in_process_metrics():
    before = samples()

    observe.attempt_finished(webhook_id=7, error_class="", duration_ms=120)
    observe.attempt_finished(webhook_id=7, error_class="timeout", duration_ms=5000)
    observe.attempt_finished(webhook_id=7, error_class="connection", duration_ms=None)
    observe.wakeups_enqueued(count=3)
    observe.wakeups_enqueued(count=0)
    observe.drain_finished(claimed=5)
    observe.drain_finished(claimed=0)

    after = samples()

    def delta(name, **labels):
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert delta("webhooks_attempts_total", webhook="7", error_class="none") == 1
    assert delta("webhooks_attempts_total", webhook="7", error_class="timeout") == 1
    assert delta("webhooks_attempts_total", webhook="7", error_class="connection") == 1
    assert delta("webhooks_attempt_duration_seconds_count", webhook="7") == 2
    assert delta("webhooks_attempt_duration_seconds_sum", webhook="7") == pytest.approx(5.12)
    assert delta("webhooks_attempt_duration_seconds_bucket", webhook="7", le="0.25") == 1
    assert delta("webhooks_attempt_duration_seconds_bucket", webhook="7", le="5.0") == 2
    assert delta("webhooks_wakeups_total") == 3
    assert delta("webhooks_drains_total") == 2
    assert delta("webhooks_drains_empty_total") == 1


def test_a_failure_inside_a_metric_never_reaches_the_engine(monkeypatch, caplog):
    from webhooks_app.metrics import instruments

    class Broken:
        def labels(self, **labels):
            raise RuntimeError("a broken metric")

    monkeypatch.setattr(instruments, "ATTEMPTS", Broken())
    monkeypatch.setattr(observe, "_failed", False)
    observe.attempt_finished(webhook_id=1, error_class="", duration_ms=1)
    observe.attempt_finished(webhook_id=1, error_class="", duration_ms=1)
    assert [r.message for r in caplog.records].count(
        "Recording a metric failed (logged once per process); deliveries go on"
    ) == 1


WRITER = """
import django, os, sys
django.setup()
from webhooks_app import observe
for _ in range(int(sys.argv[1])):
    observe.attempt_finished(webhook_id=3, error_class="http_status", duration_ms=200)
observe.wakeups_enqueued(count=int(sys.argv[1]))
observe.drain_finished(claimed=0)
print(os.getpid())
"""


@pytest.mark.django_db
def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch):
    """As gunicorn's and qcluster's worker processes would: each writes its own files, any web
    process serves the sum (PROMETHEUS_MULTIPROC_DIR set before the processes start)."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    pids = {
        subprocess.run(
            [sys.executable, "-c", WRITER, str(n)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for n in (2, 5)
    }
    assert len(pids) == 2 and len(list(directory.glob("counter_*.db"))) == 2

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    found = samples()

    assert value(found, "webhooks_attempts_total", webhook="3", error_class="http_status") == 7
    assert value(found, "webhooks_attempt_duration_seconds_count", webhook="3") == 7
    assert value(found, "webhooks_wakeups_total") == 7
    assert value(found, "webhooks_drains_total") == 2 and value(found, "webhooks_drains_empty_total") == 2
    assert value(found, "webhooks_database_up") == 1, "the database's figures are served beside them"


# Without the metrics extra -------------------------------------------------------------------

HIDE_PROMETHEUS = """
import sys


class HidePrometheus:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "prometheus_client":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, HidePrometheus())
"""

WITHOUT_EXTRA = """
import django
django.setup()
from django.test import Client
from webhooks_app import observe
observe.attempt_finished(webhook_id=1, error_class="", duration_ms=5)
observe.drain_finished(claimed=0)
client = Client(HTTP_HOST="localhost")
print("healthz", client.get("/healthz").status_code, "metrics", client.get("/metrics").status_code)
import sys
print("prometheus imported:", "prometheus_client" in sys.modules)
"""


@pytest.mark.django_db(transaction=True)
def test_without_the_extra_a_system_check_error_healthz_still_served_and_observe_does_nothing(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(HIDE_PROMETHEUS)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WEBHOOKS_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 1
    assert "webhooks_app.E080" in check.stderr and 'pip install "webhooks_app[metrics]"' in check.stderr
    assert "Traceback" not in check.stderr

    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT_EXTRA)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "healthz 200 metrics 404" in run.stdout
    assert "prometheus imported: False" in run.stdout
