"""The queue: django-q2 tasks that wake workers, the sweep, and timed wake-ups for retries.

A task carries no delivery: it only wakes a worker, which claims whatever is due
from the database (services.drain). So one emit enqueues one task whatever the
number of webhooks, a lost task costs delay and never an event (the sweep wakes
a worker for anything due that nobody holds), and a retry is a row with a due
time, never a worker asleep.
"""

import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery

logger = logging.getLogger(__name__)

DRAIN_TASK = "webhooks_app.tasks.deliveries_drain"
# Kept so that tasks queued by an older version still run after an upgrade.
TASK = "webhooks_app.tasks.delivery_run"

_brokers: dict = {}


def _broker():
    """One django-q2 broker per process and cluster (a new one per call opens a new
    Redis connection pool every time)."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    key = (os.getpid(), app_settings.Q_CLUSTER_NAME, Conf.ORM, str(Conf.REDIS))
    broker = _brokers.get(key)
    if broker is None:
        _brokers.clear()
        broker = _brokers[key] = get_broker(app_settings.Q_CLUSTER_NAME)
    return broker


def workers_wake(*, count: int = 1) -> int:
    """Enqueue ``count`` drain tasks; returns how many went.

    Never raises: a broker that is down loses nothing, the deliveries wait in the
    database and the sweep wakes a worker later.
    """
    from django_q.tasks import async_task

    options = {"save": False, "broker": _broker()}
    if app_settings.Q_CLUSTER_NAME:
        options["cluster"] = app_settings.Q_CLUSTER_NAME
    sent = 0
    for _ in range(count):
        try:
            async_task(DRAIN_TASK, task_name="webhooks-drain", q_options=dict(options))
        except Exception:
            logger.exception("Could not wake a worker; the sweep will")
            _brokers.clear()  # a broken connection is not reused
            break
        sent += 1
    return sent


def orm_broker_on(using: str) -> bool:
    """True when django-q2's ORM broker keeps its queue in this database (and runs a
    cluster: not sync mode, which would run a task before its rows are committed)."""
    from django_q.conf import Conf

    return bool(Conf.ORM) and using == Conf.ORM and not Conf.SYNC


def enqueues_in_transaction(using: str) -> bool:
    """True when a task enqueued now is written in the caller's transaction."""
    return orm_broker_on(using) and not connections[using].get_autocommit()


def workers_wake_on_commit(*, using: str) -> None:
    """Wake a worker for rows written in the current transaction.

    With the ORM broker on the same database the task row joins the transaction
    (it commits or rolls back with the change: one commit, not two); otherwise the
    task is enqueued after the commit, and nothing is sent for a rolled-back change.
    """
    if enqueues_in_transaction(using):
        workers_wake()
    else:
        transaction.on_commit(workers_wake, using=using)


_packages: dict = {}


def wake_package() -> tuple[str, str]:
    """(queue key, signed package) of one drain task, built by django-q2's own async_task.

    For the ORM broker's row written in the same SQL statement as an emit's rows
    (services.events): async_task hands the package to a broker that keeps it. A
    wake-up carries nothing but "drain" (its results are not saved and the broker
    acknowledges it by row id), so a process reuses one package for a second
    instead of pickling and signing one per emit.
    """
    from django_q.brokers import Broker
    from django_q.conf import Conf
    from django_q.tasks import async_task

    key = (os.getpid(), app_settings.Q_CLUSTER_NAME, Conf.CLUSTER_NAME, settings.SECRET_KEY)
    cached = _packages.get(key)
    if cached and time.monotonic() - cached[0] < 1.0:
        return cached[1]

    class Keeper(Broker):
        package = None

        @staticmethod
        def get_connection(list_key=None):
            return None

        def enqueue(self, task):
            Keeper.package = task
            return None

    keeper = Keeper(app_settings.Q_CLUSTER_NAME)
    options = {"save": False, "broker": keeper}
    if app_settings.Q_CLUSTER_NAME:
        options["cluster"] = app_settings.Q_CLUSTER_NAME
    async_task(DRAIN_TASK, task_name="webhooks-drain", q_options=options)
    _packages.clear()
    _packages[key] = (time.monotonic(), (keeper.list_key, Keeper.package))
    return keeper.list_key, Keeper.package


def deliveries_sweep() -> int:
    """Wake workers for due deliveries that no worker holds (lost tasks, expired leases).

    Returns how many such deliveries it saw (at most SWEEP_BATCH are counted). Wakes
    one worker per CONCURRENCY of them, at most one per django-q2 worker.
    """
    from django_q.conf import Conf

    from .. import selectors

    if not selectors.sending.enabled():
        return 0
    now = timezone.now()
    due = Delivery.objects.due(now=now).values("pk")[: app_settings.SWEEP_BATCH].count()
    if due:
        per_worker = max(int(app_settings.CONCURRENCY), 1)
        workers_wake(count=min(max(int(Conf.WORKERS or 1), 1), -(-due // per_worker)))
    retries_schedule_wakeup(now=now)
    return due


# Timed wake-ups ---------------------------------------------------------------------
# django-q2 has no delayed enqueue and its scheduler looks at schedules only about
# every 30 s. A retry due within RETRY_WAKEUP_HORIZON gets a timer in the worker
# process that scheduled it: a daemon thread that enqueues a drain task when the
# retry is due. The worker itself goes on with other tasks. A timer lost with its
# process (a kill, a recycle) costs delay only: the sweep wakes a worker for it.

_timer_lock = threading.Lock()
_timer: tuple[int, float, threading.Timer] | None = None


def retries_schedule_wakeup(*, now=None) -> float | None:
    """Arm this process' timer for the earliest pending delivery due within the horizon.

    Returns the delay in seconds, or None when no timer is needed. In sync mode (no
    cluster) nothing is armed.
    """
    from django_q.conf import Conf

    horizon = float(app_settings.RETRY_WAKEUP_HORIZON or 0)
    if horizon <= 0 or Conf.SYNC:
        return None
    now = now or timezone.now()
    due = (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__gt=now,
            next_attempt_at__lte=now + timedelta(seconds=horizon),
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due is None:
        return None
    delay = max((due - timezone.now()).total_seconds(), 0.0)
    _timer_arm(delay)
    return delay


def _timer_arm(delay: float) -> None:
    global _timer
    at = time.monotonic() + delay
    with _timer_lock:
        if _timer and _timer[0] == os.getpid() and _timer[2].is_alive() and _timer[1] <= at + 0.05:
            return  # an earlier (or the same) wake-up is already armed
        if _timer and _timer[0] == os.getpid():
            _timer[2].cancel()
        timer = threading.Timer(delay, _timer_fire)
        timer.daemon = True
        _timer = (os.getpid(), at, timer)
        timer.start()


def _timer_fire() -> None:
    try:
        workers_wake()
    finally:
        connections.close_all()  # this thread's connections (ORM broker), never reused
