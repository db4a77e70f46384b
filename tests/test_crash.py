"""Crash and restart: a qcluster SIGKILLed mid-batch, PostgreSQL restarted mid-run; nothing is lost.

The database is the source of truth: a delivery held by a killed worker comes back
when its lease expires (LEASE_MARGIN is shortened here), and a wake-up lost with the
killed cluster (or taken from Redis, which has no acknowledgement) costs nothing but
the next sweep, which the tests run from here (settle).
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.cluster import emit_one, settle
from tests.conftest import IN_CI, require_service
from tests.receiver import Reply
from webhooks_app.conf import app_settings
from webhooks_app.models import Attempt, Delivery

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own: no other cluster takes our tasks
CLUSTER_SETTINGS = {"LEASE_MARGIN": 3}


def broker_kwargs(broker: str) -> dict:
    if broker == "orm":
        return {}
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return {"redis_url": REDIS_URL}


@pytest.mark.parametrize("broker", ["orm", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_cluster_killed_mid_batch_then_restarted_delivers_everything(
    start_cluster,
    make_webhook,
    receiver,
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
    # At least once: only what was in flight at the kill may arrive twice (2 workers,
    # each with at most DESTINATION_CONCURRENCY requests to this receiver at once).
    duplicates = len(received) - len(set(received))
    assert duplicates <= 2 * app_settings.DESTINATION_CONCURRENCY, (duplicates, sent_before_kill)
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
    start_cluster,
    make_webhook,
    receiver,
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


def test_one_enqueue_per_emit_and_the_sweep_wakes_a_bounded_number_of_workers(
    real_queue, make_webhook, settings
):
    # Tasks only wake workers, who claim from the database: one task per emit
    # whatever the number of webhooks, and a sweep over a backlog adds at most one
    # task per django-q2 worker (never one per delivery: no flood of duplicates).
    from django.utils import timezone
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from webhooks_app import services

    for name in ("a", "b", "c"):
        make_webhook(f"http://127.0.0.1:9/{name}", name=name)
    for i in range(5):
        emit_one({"id": i})
    assert Delivery.objects.count() == 15
    assert OrmQ.objects.count() == 5  # one per emit, queued, no cluster running

    OrmQ.objects.all().delete()  # lost (a Redis restart)
    settings.WEBHOOKS = {**settings.WEBHOOKS, "CONCURRENCY": 4}
    assert services.deliveries_sweep() == 15
    assert OrmQ.objects.count() == min(Conf.WORKERS, 4)  # ceil(15 / 4) = 4, capped by the workers

    # Leased (a live worker holds them) or not yet due: nothing to wake anyone for.
    OrmQ.objects.all().delete()
    services.deliveries_claim(limit=10)
    Delivery.objects.filter(lease_until__isnull=True).update(
        next_attempt_at=timezone.now() + timezone.timedelta(minutes=5)
    )
    assert services.deliveries_sweep() == 0
    assert OrmQ.objects.count() == 0
