"""Run a real `python manage.py qcluster` subprocess against the test database, and the
helpers of the tests that do (a network guard, emit_one, settle, attempts)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from webhooks_app import emit, services
from webhooks_app.models import Attempt, Delivery

ROOT = Path(__file__).resolve().parent.parent


class QCluster:
    """A qcluster subprocess using the current test database and the chosen broker."""

    def __init__(self, *, redis_url: str = "", workers: int = 2, extra_env: dict | None = None):
        self.redis_url = redis_url
        self.workers = workers
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / f".qcluster-{os.getpid()}.log"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            Q_SYNC="0",
            Q_WORKERS=str(self.workers),
            WEBHOOKS_TEST_DB_NAME=str(connection.settings_dict["NAME"]),
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        else:
            env.pop("REDIS_URL", None)
        env.update(self.extra_env)
        return env

    def start(self):
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process' life
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self):
        """SIGKILL the whole process group (the cluster and its workers)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        """SIGTERM to the main process only, as django-q2 expects; SIGKILL the group if it hangs.

        A SIGTERM to the whole group kills the sentinel (SIG_DFL) under the main
        process, which then never exits: every test paid the 20 s wait.
        """
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""


@pytest.fixture
def real_queue(monkeypatch):
    """Make async_task in this (test) process enqueue on the broker instead of running inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)

    def use_redis(url: str):
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)

    return use_redis


@pytest.fixture
def qcluster(real_queue):
    """Start qcluster subprocesses (call with redis_url=... for Redis); all are stopped after."""
    started: list[QCluster] = []

    def start(**kwargs) -> QCluster:
        if kwargs.get("redis_url"):
            real_queue(kwargs["redis_url"])
        cluster = QCluster(**kwargs).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()
        cluster.log_path.unlink(missing_ok=True)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# A cluster that keeps its traffic on loopback, and helpers of the cluster tests ------------

NET_GUARD = r'''
"""Loaded by every Python process of a test cluster: keep its traffic on loopback."""
import ipaddress
import os
import socket

_LOG = os.environ["WEBHOOKS_TEST_NETLOG"]
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _name(host):
    return (host.decode() if isinstance(host, bytes) else str(host or "")).rstrip(".").lower()


def getaddrinfo(host, *args, **kwargs):
    if _name(host).endswith(".invalid"):
        with open(_LOG + ".dns", "a") as f:
            f.write(_name(host) + "\n")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return _getaddrinfo(host, *args, **kwargs)


def _check(address):
    if not isinstance(address, tuple):
        return  # a Unix socket
    try:
        loopback = ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        with open(_LOG, "a") as f:
            f.write(repr(address) + "\n")
        raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")


def connect(self, address):
    _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
open(_LOG + ".loaded", "a").close()
'''


class GuardedCluster:
    """Starts qcluster subprocesses that load the network guard; checks its log."""

    def __init__(self, qcluster, path):
        self._qcluster = qcluster
        self.path = path
        self.log = path / "netlog"
        self.dns_log = path / "netlog.dns"
        (path / "site").mkdir()
        (path / "site" / "sitecustomize.py").write_text(NET_GUARD)

    def __call__(self, overrides: dict | None = None, **kwargs):
        env = {"PYTHONPATH": str(self.path / "site"), "WEBHOOKS_TEST_NETLOG": str(self.log)}
        if overrides:
            env["WEBHOOKS_TEST_OVERRIDES"] = json.dumps(overrides)
        env.update(kwargs.pop("extra_env", {}))
        loaded = self.path / "netlog.loaded"
        loaded.unlink(missing_ok=True)
        cluster = self._qcluster(extra_env=env, **kwargs)
        wait_until(loaded.exists, 30, message="the cluster to load the network guard")
        return cluster

    def outside_traffic(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def emit_one(data=None):
    with transaction.atomic():
        event = emit("contact.updated", data=data or {"id": 1})
    return event


def settle(ids, timeout: float = 40.0, cluster=None):
    """Sweep from here (as the periodic sweep would) until the deliveries are final."""

    def final():
        services.deliveries_sweep()
        return not Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).exists()

    try:
        wait_until(final, timeout, interval=0.25, message=f"deliveries {ids} to end")
    except AssertionError:
        if cluster is not None:
            print(cluster.log())
        raise
    return list(Delivery.objects.filter(pk__in=ids).order_by("pk"))


def attempts(delivery) -> list[Attempt]:
    return list(Attempt.objects.filter(delivery=delivery).order_by("number"))
