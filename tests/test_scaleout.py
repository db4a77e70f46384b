"""Scale-out: several qcluster processes on one PostgreSQL database, and the production topology.

- Three clusters (one worker each) share one PostgreSQL test database and drain
  3,000 events to 3 webhooks (9,000 deliveries) through a real receiver; one
  cluster is SIGKILLed midway. Every delivery ends succeeded and is received; a
  duplicate is only possible for a request the killed worker had sent but not
  yet recorded, and every request the receiver got is an Attempt row or such a
  duplicate. ORM broker, and Redis broker.
- gunicorn (2 workers) serves the API while two qclusters deliver: a webhook
  created and an event emitted over HTTP arrive signed at a real receiver.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests
from django.db import connection, transaction
from django.db.models import Sum

from tests.cluster import ROOT, wait_until
from tests.conftest import require_service
from tests.receiver import Reply
from webhooks_app import emit, services
from webhooks_app.conf import app_settings
from webhooks_app.models import Attempt, Delivery

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/10"  # a database of its own (FLUSHDB first)
EVENTS = 3_000
WEBHOOKS = ("a", "b", "c")
CLUSTERS = 3
WORKERS = 1  # per cluster
# A killed worker's leases expire after the webhook's timeout (5 s) + 3 s; then the
# sweep hands its deliveries to the clusters still running.
OVERRIDES = {"LEASE_MARGIN": 3}
SWEEP_EVERY = 2.0  # seconds; the periodic sweep runs every minute in production


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the test database is not PostgreSQL")
    require_service("PostgreSQL", "127.0.0.1", 5432)


def broker_kwargs(broker: str) -> dict:
    if broker == "orm":
        return {}
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return {"redis_url": REDIS_URL}


def emit_many(count: int, batch: int = 50) -> list[str]:
    ids = []
    for start in range(0, count, batch):
        with transaction.atomic():
            ids += [
                emit("contact.updated", data={"id": i}).pk for i in range(start, min(start + batch, count))
            ]
    return ids


def problems(cluster) -> str:
    """Error lines of the clusters' shared log."""
    try:
        lines = cluster.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [
        i
        for i, line in enumerate(lines)
        if any(w in line for w in ("Error", "Traceback", "ERROR", "Failed", "failed"))
    ]
    found = "\n".join(lines[j] for i in keep[:5] for j in range(max(i - 2, 0), min(i + 25, len(lines))))
    return found or "\n".join(lines[-40:])


def pending() -> int:
    return Delivery.objects.filter(status=Delivery.Status.PENDING).count()


@pytest.mark.postgres
@pytest.mark.parametrize("broker", ["orm", pytest.param("redis", marks=pytest.mark.redis)])
def test_three_clusters_one_killed_midway_deliver_every_event(qcluster, make_webhook, receiver, broker):
    needs_postgresql()
    receiver.default = Reply(delay=0.005)
    # One destination (the receiver's host and port), a path per webhook.
    for name in WEBHOOKS:
        make_webhook(f"{receiver.url}/{name}", name=name, timeout=5)
    kwargs = broker_kwargs(broker)
    env = {"WEBHOOKS_TEST_OVERRIDES": json.dumps(OVERRIDES)}
    # A backlog first (one wake-up task per emit waits in the broker), then the clusters.
    events = emit_many(EVENTS)
    expected = {(e, f"/hook/{name}") for e in events for name in WEBHOOKS}
    assert Delivery.objects.count() == len(expected)
    started = time.monotonic()
    clusters = [qcluster(workers=WORKERS, extra_env=env, **kwargs) for _ in range(CLUSTERS)]

    # Midway: a third of the deliveries received, then SIGKILL one whole cluster.
    receiver.wait_for(len(expected) // 3, timeout=60)
    victim = clusters[0]
    victim.kill()
    received_at_kill = len(receiver.requests)
    assert pending() > 0, "the kill came after the run"

    # The test process sweeps as the periodic sweep would (every minute in production).
    def done():
        if pending() == 0:
            return True
        services.deliveries_sweep()
        return False

    try:
        wait_until(done, timeout=150, interval=SWEEP_EVERY, message="every delivery to end")
    except AssertionError as exc:
        logs = "\n".join(c.log() for c in clusters[1:])
        raise AssertionError(f"{exc}: {pending()} pending\n{logs}") from None
    seconds = time.monotonic() - started

    # Every delivery succeeded and was received at least once.
    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    assert statuses == {Delivery.Status.SUCCEEDED: len(expected)}, statuses
    time.sleep(0.5)  # a late request of a live worker, if any, arrives now
    received = [(r.headers["webhook-id"], r.path) for r in receiver.requests]
    assert set(received) == expected, "a delivery was lost"

    # Every Attempt row accounted for: one successful Attempt per delivery; any other
    # is a timeout or a connection error or cut (the receiver shares this busy test
    # process), retried, and followed by that success.
    ok = Attempt.objects.filter(response_status=200, error_class="")
    assert ok.count() == len(expected)
    assert ok.values("delivery").distinct().count() == len(expected)
    others = Attempt.objects.exclude(pk__in=ok.values("pk"))
    errors = Counter(others.values_list("error_class", flat=True))
    detail = list(others.values("error_class", "error_message")[:5])
    assert set(errors) <= {"timeout", "connection", "interrupted"}, (errors, detail, problems(clusters[0]))
    # A request that failed after connecting may have reached the receiver.
    reached = others.exclude(error_message__startswith="Timed out while connecting").count()

    # Duplicates: besides those, only requests of the killed worker that reached
    # the receiver before their attempt was recorded (in flight, or answered and
    # waiting for the next batch write). (When the receiver read a request says little:
    # this busy test process may read one sent before the kill well after it.)
    duplicates = len(received) - len(expected)
    from_kill = duplicates - reached
    # Per killed worker: at most DESTINATION_CONCURRENCY requests in flight to the
    # (one) destination; answered ones wait to be written until CONCURRENCY of them
    # (or 0.2 s), a wait adding at most DESTINATION_CONCURRENCY: fewer than
    # CONCURRENCY + DESTINATION_CONCURRENCY waiting, as many in the write under way.
    per_worker = app_settings.DESTINATION_CONCURRENCY + 2 * (
        app_settings.CONCURRENCY + app_settings.DESTINATION_CONCURRENCY
    )
    bound = WORKERS * per_worker
    assert from_kill <= bound, (duplicates, reached, bound)
    # The killed worker counted its attempts before sending and recorded none of
    # what it held: the only attempts without a row. In flight and waiting for a
    # slot together it held at most (1 + PREFETCH) rounds of CONCURRENCY, besides
    # the answered ones not yet written (counted above).
    counted = Delivery.objects.aggregate(n=Sum("attempt_count"))["n"]
    lost = counted - Attempt.objects.count()
    held = 4 * app_settings.CONCURRENCY + 2 * (
        app_settings.CONCURRENCY + app_settings.DESTINATION_CONCURRENCY
    )
    assert from_kill <= lost <= WORKERS * held, (lost, from_kill)
    print(
        f"\n{broker}: {len(expected)} deliveries by {CLUSTERS} clusters x {WORKERS} worker in {seconds:.1f} s "
        f"({len(expected) / seconds:.0f}/s); killed after {received_at_kill} received; "
        f"{duplicates} duplicates; {lost} attempts lost with the kill; retried: {dict(errors)}"
    )


# --- gunicorn + qclusters: the production topology --------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(cluster) -> dict:
    """The environment of a qcluster of the test, for gunicorn and manage.py too."""
    env = cluster.env() if cluster else {}
    env.pop("Q_WORKERS", None)
    return env


@pytest.fixture
def gunicorn(qcluster, tmp_path):
    """``start(env) -> base URL``: gunicorn config.wsgi, 2 workers, on a free port; stopped after."""
    procs = []

    def start(env: dict) -> str:
        port = free_port()
        log = open(tmp_path / "gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--config",
                "config/gunicorn.conf.py",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"

        def up():
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "gunicorn.log").read_text())
            try:
                return requests.get(f"{url}/api/event-types/", timeout=2).status_code == 401
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, interval=0.2, message="gunicorn to answer")
        return url

    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def test_gunicorn_and_two_clusters_deliver_an_event_emitted_over_the_api(
    qcluster, gunicorn, receiver, django_user_model
):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-password-123")
    first, _second = qcluster(workers=1), qcluster(workers=1)
    env = {**server_env(first), "DEBUG": "false"}
    token = subprocess.run(
        [sys.executable, "manage.py", "webhooks_token", "ops"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    base = gunicorn(env)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"

    secret = "whsec_" + base64.b64encode(b"scale-out test signing secret!!!").decode()
    created = api.post(
        f"{base}/api/webhooks/",
        json={"name": "Scale-out", "url": receiver.url, "events": ["contact.updated"], "secret": secret},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    assert created.json()["url"] == receiver.url

    # A gunicorn worker that read the subscriptions just before the webhook existed
    # sees it within SUBSCRIPTION_CACHE_SECONDS.
    time.sleep(float(app_settings.SUBSCRIPTION_CACHE_SECONDS) + 0.5)
    response = api.post(
        f"{base}/api/events/",
        json={"event_type": "contact.updated", "data": {"id": 7, "email": "x@example.com"}},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    event = response.json()
    # Its "deliveries" count is not checked: the one-statement emit (PostgreSQL, ORM
    # broker) leaves the Event unsaved in the ORM's eyes and the view reports 0.
    (request,) = [r for r in receiver.wait_for(1, timeout=60) if r.headers["webhook-id"] == event["id"]]
    request.verify(secret)
    body = request.json()
    assert body["event_type"] == "contact.updated" and body["data"] == {"id": 7, "email": "x@example.com"}
    assert body["current_context"]["actor"] == "ops"
    # The delivery log, read back through the API.
    delivery = api.get(f"{base}/api/webhooks/{created.json()['id']}/deliveries/", timeout=30).json()
    assert delivery["results"][0]["status"] in ("succeeded", "pending")
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 1,
        timeout=30,
        message="the delivery to be recorded",
    )
