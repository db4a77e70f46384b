"""Run a real `python manage.py qcluster` subprocess against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

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
