"""The in-process metrics the delivery engine feeds (through webhooks_app.observe); needs prometheus-client.

These count what happens inside one process (an attempt's duration and error
class, a wake-up enqueued, a drain run), which the database does not hold.
They live in a registry of their own, so a host's default registry is left alone.

Several processes (gunicorn's workers, qcluster's workers): prometheus-client's
multiprocess mode. With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment of
every process before it starts (the same directory for the web and the worker
processes of one machine, emptied when they start), each process writes its
values to files there and ``/metrics`` adds them up (MultiProcessCollector), so
any web process answers for the whole machine. Without it each process counts
for itself only. Only counters and histograms are used: they need no
``mark_process_dead`` on a worker's exit.

Labels are bounded: a webhook's id (never its URL or name) and the error class
of Attempt.ErrorClass (``none`` for a 2xx answer).
"""

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds; a receiver gets 1-60 s (TIMEOUT, a webhook's own timeout).
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

ATTEMPTS = Counter(
    "webhooks_attempts",
    "HTTP attempts of deliveries, by webhook and error class (none: a 2xx answer).",
    ["webhook", "error_class"],
    registry=REGISTRY,
)
ATTEMPT_DURATION = Histogram(
    "webhooks_attempt_duration_seconds",
    "Duration of the HTTP attempts of deliveries (request sent to answer read), by webhook.",
    ["webhook"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
WAKEUPS = Counter(
    "webhooks_wakeups",
    "Wake-up tasks enqueued for the workers (by emit, the sweep and retry timers).",
    registry=REGISTRY,
)
DRAINS = Counter(
    "webhooks_drains",
    "Drains run: a woken worker claiming and sending due deliveries until none is due.",
    registry=REGISTRY,
)
DRAINS_EMPTY = Counter(
    "webhooks_drains_empty",
    "Drains that found nothing to send (another worker had taken it, or a wake-up too many).",
    registry=REGISTRY,
)
