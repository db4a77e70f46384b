"""Test settings: the demo settings, tasks run in-process, a file or PostgreSQL test database.

TEST_DATABASE_URL chooses the database (default SQLite). The test database is a
file (or a PostgreSQL database) so that a real `qcluster` subprocess started by a
test sees the same rows; WEBHOOKS_TEST_DB_NAME points such a subprocess at it.
"""

import json
import os

os.environ.setdefault("DATABASE_URL", os.environ.get("TEST_DATABASE_URL", "sqlite:///.test-main.sqlite3"))

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, DATABASES, Q_CLUSTER, WEBHOOKS

_db = DATABASES["default"]
if _db["ENGINE"].endswith("sqlite3"):
    _db["TEST"] = {
        "NAME": str(BASE_DIR / f".test-db-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.sqlite3")
    }
else:
    _db["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_webhooks_app")}
    _db["CONN_MAX_AGE"] = 0

# A qcluster subprocess started by a test uses the test database directly.
if os.environ.get("WEBHOOKS_TEST_DB_NAME"):
    _db["NAME"] = os.environ["WEBHOOKS_TEST_DB_NAME"]

SECRET_KEY = "tests-secret-key-not-for-production-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

Q_CLUSTER = {
    **Q_CLUSTER,
    "sync": os.environ.get("Q_SYNC", "1") == "1",
    "workers": int(os.environ.get("Q_WORKERS", "2")),  # QCluster(workers=...) sets it
    "timeout": 120,
    "retry": 300,
}

WEBHOOKS = {
    **WEBHOOKS,
    "ALLOWED_DESTINATIONS": ["127.0.0.1", "::1"],
    "RETRY_SCHEDULE": [1, 2, 3, 4, 5],
    "RETRY_JITTER": 0,
    "DRAIN_SECONDS": 5,
    "TIMEOUT": 5,
    # The suite makes many API requests in a row: no throttling here.
    # tests/test_api_throttling.py sets small rates per test.
    "API_THROTTLE_RATES": None,
}

# A qcluster subprocess may get WEBHOOKS overrides as JSON (e.g. a short LEASE_MARGIN).
if os.environ.get("WEBHOOKS_TEST_OVERRIDES"):
    WEBHOOKS.update(json.loads(os.environ["WEBHOOKS_TEST_OVERRIDES"]))
