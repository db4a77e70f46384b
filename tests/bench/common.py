"""Pieces shared by the harness, its child jobs and the plain loop (no Django imports here)."""

import json
import math
import time
import uuid
from datetime import UTC, datetime

# The event data of every benchmark event: a contact-like record, so that the
# envelope the app sends is about 300 bytes, like a real `contact.updated`.
EVENT_DATA = {
    "id": 4242,
    "name": "Benchmark Contact",
    "email": "benchmark.contact@example.com",
    "accepts_email": True,
    "accepts_sms": False,
    "accepts_postal": False,
    "created_at": "2026-01-01T00:00:00.000000Z",
}
EVENT_CONTEXT = {"actor": "bench", "source": "webhooks_bench"}

# Event types the benchmark declares (tests/bench/settings.py) and emits.
EVENT_TYPES = {
    "bench.drain": "Benchmark: drain throughput.",
    "bench.isolation": "Benchmark: a healthy webhook next to a hanging one.",
    "bench.fanout": "Benchmark: one event to many webhooks.",
    "bench.retry": "Benchmark: a receiver failing every first try.",
    "bench.memory": "Benchmark: worker memory over a long run.",
    "bench.warm": "Benchmark: warm-up of a freshly started cluster.",
    "bench.api": "Benchmark: events emitted through POST /api/events/.",
    "bench.burst": "Benchmark: a burst of emits, each in its own transaction.",
}

REDIS_DB = 13  # the benchmark's own Redis database (FLUSHDB at start); never 0
POSTGRES_DB = "webhooks_bench"  # created and dropped by the harness
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def envelope(event_type: str = "bench.drain", event_id: str | None = None) -> dict:
    """The JSON envelope the app sends for an event (same fields, same sizes)."""
    return {
        "id": event_id or "evt_" + uuid.uuid4().hex,
        "event_type": event_type,
        "event_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "current_context": EVENT_CONTEXT,
        "data": EVENT_DATA,
    }


def envelope_body(event_type: str = "bench.drain", event_id: str | None = None) -> str:
    return json.dumps(envelope(event_type, event_id), ensure_ascii=False, separators=(",", ":"))


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def sleep_until(deadline: float) -> None:
    while True:
        left = deadline - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))
