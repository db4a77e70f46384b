"""Crash and restart: a qcluster SIGKILLed mid-batch, PostgreSQL restarted mid-run; nothing is lost.

The database is the source of truth: a delivery held by a killed worker comes back
when its lease expires, a task lost with the killed cluster (or taken from Redis,
which has no acknowledgement) comes back through the sweep after REQUEUE_AFTER.
Both are shortened here (LEASE_MARGIN in the cluster, REQUEUE_AFTER for the sweep
the test runs).
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import IN_CI, require_service
from tests.receiver import Reply
from tests.test_faults import emit_one, settle, start_cluster  # noqa: F401 - start_cluster is a fixture
from webhooks_app.models import Attempt, Delivery

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own: no other cluster takes our tasks
CLUSTER_SETTINGS = {"LEASE_MARGIN": 3}


@pytest.fixture
def quick_sweep(settings):
    """The sweep this test runs re-enqueues a task unstarted for 3 s (default 120 s)."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "REQUEUE_AFTER": 3}


def broker_kwargs(broker: str) -> dict:
    if broker == "orm":
        return {}
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return {"redis_url": REDIS_URL}


@pytest.mark.parametrize("broker", ["orm", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_cluster_killed_mid_batch_then_restarted_delivers_everything(
    start_cluster,  # noqa: F811
    make_webhook,
    receiver,
    quick_sweep,
    broker,
):
    receiver.default = Reply(delay=0.1)
    make_webhook(receiver.url, timeout=2)
    kwargs = broker_kwargs(broker)
    first = start_cluster(CLUSTER_SETTINGS, **kwargs)

    events = [emit_one({"id": i}) for i in range(50)]
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert len(ids) == 50
    receiver.wait_for(8, timeout=30)
    first.kill()
    sent_before_kill = len(receiver.requests)
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).count()
    assert pending > 0, "the kill came after the batch"

    second = start_cluster(CLUSTER_SETTINGS, **kwargs)
    deliveries = settle(ids, timeout=120, cluster=second)

    assert [d.status for d in deliveries] == [Delivery.Status.SUCCEEDED] * 50
    received = [r.headers["webhook-id"] for r in receiver.requests]
    assert set(received) == {e.pk for e in events}, "a delivery was lost"
    # At least once: only what was in flight at the kill may arrive twice
    # (2 workers, each holding one request).
    duplicates = len(received) - len(set(received))
    assert duplicates <= 2, (duplicates, sent_before_kill)
    # Every delivery has a successful Attempt; a request cut by the kill left no
    # Attempt row but is counted in attempt_count (counted before sending). A
    # second successful Attempt of one delivery is only possible for a request
    # that was also received twice (a worker outlived its lease on a loaded machine).
    ok = Attempt.objects.filter(response_status=200, error_class="")
    assert ok.values("delivery").distinct().count() == 50
    assert 50 <= ok.count() <= 50 + duplicates
    assert Attempt.objects.count() == ok.count()
    assert sum(d.attempt_count for d in deliveries) >= len(received)


def postgres_cluster() -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster pg_ctlcluster can restart, or None."""
    if shutil.which("pg_ctlcluster") is None:
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


def other_sessions() -> int:
    """Client connections to other databases of the server (a restart would cut them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid() AND datname IS DISTINCT FROM current_database()"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_postgresql_restarted_during_a_run_loses_no_event(
    start_cluster,  # noqa: F811
    make_webhook,
    receiver,
    quick_sweep,
):
    if connection.vendor != "postgresql":
        pytest.skip("the test database is not PostgreSQL")
    server = postgres_cluster()
    if server is None:
        pytest.skip("no local PostgreSQL cluster that pg_ctlcluster can restart")
    others = other_sessions()
    if others and not IN_CI:  # under CI this suite is alone on the server: always restart
        pytest.skip(f"not restarting PostgreSQL under {others} other client sessions (other test runs?)")
    receiver.default = Reply(delay=0.1)
    make_webhook(receiver.url, timeout=2)
    cluster = start_cluster(CLUSTER_SETTINGS)

    events = [emit_one({"id": i}) for i in range(40)]
    receiver.wait_for(5, timeout=30)
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *server, "restart"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    restart_seconds = time.monotonic() - started
    connection.close()  # this process' connection died with the server
    # Events emitted right after the restart are not lost either.
    events += [emit_one({"id": 100 + i}) for i in range(20)]
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert len(ids) == 60

    deliveries = settle(ids, timeout=150, cluster=cluster)

    assert cluster.proc.poll() is None, "the cluster died instead of recovering"
    assert [d.status for d in deliveries] == [Delivery.Status.SUCCEEDED] * 60
    received = {r.headers["webhook-id"] for r in receiver.requests}
    assert received == {e.pk for e in events}, "an event was lost"
    assert restart_seconds < 60


def test_the_sweep_requeues_a_stale_task_only_when_the_queue_is_short(real_queue, make_webhook, settings):
    # A task that waited longer than REQUEUE_AFTER may be lost (a crash, Redis) or
    # just queued behind a backlog. In a backlog the sweep leaves it alone: otherwise
    # every sweep would add a duplicate per waiting delivery and the backlog would grow.
    from django.utils import timezone
    from django_q.models import OrmQ

    from webhooks_app import services

    settings.WEBHOOKS = {**settings.WEBHOOKS, "SWEEP_BATCH": 3}
    make_webhook("http://127.0.0.1:9/hook")
    for i in range(5):
        emit_one({"id": i})
    assert OrmQ.objects.count() == 5  # queued, no cluster running
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    Delivery.objects.update(enqueued_at=long_ago, next_attempt_at=long_ago)

    assert services.deliveries_sweep() == 0
    assert OrmQ.objects.count() == 5

    # A retry that came due still gets its task, backlog or not.
    retry = Delivery.objects.order_by("pk").first()
    Delivery.objects.filter(pk=retry.pk).update(next_attempt_at=timezone.now())
    assert services.deliveries_sweep() == 1
    assert OrmQ.objects.count() == 6

    # The queue drained (or was lost with a Redis restart): stale tasks come back.
    OrmQ.objects.all().delete()
    assert services.deliveries_sweep() == 3  # SWEEP_BATCH
    assert services.deliveries_sweep() == 0  # 3 queued again: a backlog once more
    OrmQ.objects.all().delete()
    assert services.deliveries_sweep() == 1  # the last stale one (the retry's task is recent)
    assert services.deliveries_sweep() == 0
