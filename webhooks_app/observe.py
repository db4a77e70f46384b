"""What the delivery engine reports as it works: the functions it calls, no-ops without the extras.

The engine calls these at fixed points (services.deliveries when an attempt is
recorded, the queue when it enqueues a wake-up, the drain when it ends). With
the ``metrics`` extra installed each one feeds the in-process metrics of
webhooks_app.metrics.instruments; without it each returns at once. Reporting
never fails a delivery: an error in it is logged once per process and swallowed.
"""

import logging

logger = logging.getLogger(__name__)

_instruments = None  # the module once loaded; False when prometheus-client is not installed
_failed = False


def _metrics():
    global _instruments
    if _instruments is None:
        from .checks import metrics_installed

        if metrics_installed():
            from .metrics import instruments

            _instruments = instruments
        else:
            _instruments = False
    return _instruments or None


def _report_failure() -> None:
    global _failed
    if not _failed:
        _failed = True
        logger.exception("Recording a metric failed (logged once per process); deliveries go on")


def attempt_finished(*, webhook_id: int, error_class: str, duration_ms: int | None) -> None:
    """One HTTP attempt ended: count it by webhook and error class ("" is a 2xx) and time it."""
    metrics = _metrics()
    if metrics is None:
        return
    try:
        webhook = str(webhook_id)
        metrics.ATTEMPTS.labels(webhook=webhook, error_class=error_class or "none").inc()
        if duration_ms is not None:
            metrics.ATTEMPT_DURATION.labels(webhook=webhook).observe(duration_ms / 1000.0)
    except Exception:  # noqa: BLE001 - reporting never fails a delivery
        _report_failure()


def wakeups_enqueued(*, count: int = 1) -> None:
    """``count`` wake-up tasks were enqueued for the workers."""
    metrics = _metrics()
    if metrics is None or count <= 0:
        return
    try:
        metrics.WAKEUPS.inc(count)
    except Exception:  # noqa: BLE001 - reporting never fails a delivery
        _report_failure()


def drain_finished(*, claimed: int) -> None:
    """A drain ended after claiming ``claimed`` deliveries (0: an empty drain)."""
    metrics = _metrics()
    if metrics is None:
        return
    try:
        metrics.DRAINS.inc()
        if claimed == 0:
            metrics.DRAINS_EMPTY.inc()
    except Exception:  # noqa: BLE001 - reporting never fails a delivery
        _report_failure()
