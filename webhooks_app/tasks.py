"""Thin django-q2 entry points; each calls one service."""

from . import services


def delivery_run(delivery_id: int) -> str:
    """Attempt one delivery (and its short retries); a finished one is left alone."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    return "skipped" if delivery is None else delivery.status


def deliveries_sweep() -> int:
    """Enqueue due deliveries without a live task (periodic schedule)."""
    return services.deliveries_sweep()


def retention_purge() -> dict:
    """Delete log rows older than WEBHOOKS['RETENTION_DAYS'] (periodic schedule), in slices."""
    return services.retention_purge_slice()
