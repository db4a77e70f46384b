"""Thin django-q2 entry points; each calls one service."""

from . import services


def deliveries_drain() -> dict:
    """Claim and send due deliveries until none is due (a wake-up from emit, the sweep or a timer)."""
    return services.deliveries_drain()


def delivery_run(delivery_id: int | None = None) -> dict:
    """A task queued by an earlier version (one per delivery): drains like any wake-up."""
    return services.deliveries_drain()


def deliveries_sweep() -> int:
    """Wake workers for due deliveries nobody holds (periodic schedule)."""
    return services.deliveries_sweep()


def retention_purge() -> dict:
    """Delete log rows older than WEBHOOKS['RETENTION_DAYS'] (periodic schedule), in slices."""
    return services.retention_purge_slice()


def alerts_check() -> int:
    """Mail the owners of webhooks about to be disabled (at most once a day each); a periodic check."""
    from .services.alerts import alerts_check

    return alerts_check()
