"""Shared fixtures: a real HTTP receiver, webhook factories, service availability."""

import os
import socket

import pytest

from tests.cluster import GuardedCluster, qcluster, real_queue  # noqa: F401 - fixtures
from tests.receiver import Receiver

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int):
    """Skip when a service is down, except under CI, where it is a failure."""
    if service_up(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} at {host}:{port} is unreachable; CI requires it", pytrace=False)
    pytest.skip(f"{name} at {host}:{port} is unreachable")


@pytest.fixture(autouse=True)
def fresh_subscriptions():
    """Each test starts without this process' cached subscriptions (a rolled-back
    test leaves webhooks behind in the cache that no signal reports)."""
    from webhooks_app.selectors import sending, subscriptions

    subscriptions.clear()
    sending.clear()


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def make_webhook(db):
    from webhooks_app import services

    def make(url, **fields):
        fields.setdefault("name", "Test hook")
        fields.setdefault("events", ["*"])
        return services.webhook_create(url=url, **fields)

    return make


@pytest.fixture
def webhook(make_webhook, receiver):
    return make_webhook(receiver.url)


@pytest.fixture
def start_cluster(transactional_db, qcluster, tmp_path):  # noqa: F811 - the qcluster fixture
    """``start_cluster(overrides={...WEBHOOKS keys...}, redis_url=...)`` -> a guarded QCluster."""
    guarded = GuardedCluster(qcluster, tmp_path)
    yield guarded
    assert guarded.outside_traffic() == "", "the cluster tried to reach a non-loopback address"
