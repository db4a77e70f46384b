"""Settings of the benchmark, for its own processes and their qcluster subprocesses.

The demo settings (config.settings), with from the environment:
- ``DATABASE_URL`` (read by config.settings): the benchmark's SQLite file or
  PostgreSQL database;
- ``REDIS_URL`` (read by config.settings): when set, django-q2's Redis broker
  (the harness points it at its own database number), else the ORM broker;
- ``Q_WORKERS`` (read by config.settings): the cluster's worker processes;
- ``WEBHOOKS_BENCH_OVERRIDES``: JSON merged into ``WEBHOOKS`` (e.g.
  ``{"MODELS": {}}`` for an unwatched Contact, or a short ``RETRY_SCHEDULE``).

Deliveries may reach 127.0.0.1 only; tasks always go through the broker (never
sync); the benchmark's event types are declared.
"""

import json
import os

from config.settings import *  # noqa: F403
from config.settings import LOGGING, Q_CLUSTER, WEBHOOKS
from tests.bench.common import EVENT_TYPES

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

Q_CLUSTER = {
    **Q_CLUSTER,
    "sync": False,
    # The harness reads the worker pids from the cluster's "ready for work at" lines.
    "log_level": "INFO",
}

WEBHOOKS = {
    **WEBHOOKS,
    "EVENTS": {**WEBHOOKS.get("EVENTS", {}), **EVENT_TYPES},
    "ALLOWED_DESTINATIONS": ["127.0.0.1"],
}
WEBHOOKS.update(json.loads(os.environ.get("WEBHOOKS_BENCH_OVERRIDES") or "{}"))

# One log line per delivery would cost more than some of what is measured.
LOGGING = {
    **LOGGING,
    "loggers": {
        **LOGGING.get("loggers", {}),
        "webhooks_app": {"handlers": ["console"], "level": os.environ.get("BENCH_APP_LOG_LEVEL", "WARNING")},
    },
}

# The benchmark's app (tests/bench/apps.py: counts the drains a cluster runs, from
# django-q2's post_execute signal) and its URLs (the demo's plus section 12's
# minimal DRF view).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.bench.apps.BenchConfig"]  # noqa: F405
ROOT_URLCONF = "tests.bench.urls"
