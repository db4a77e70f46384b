"""Reads for operations: ``/healthz``, ``manage.py webhooks_status`` and the gauges and counters of ``/metrics``.

Reads only. "Due" is what a worker's claim would take (Delivery.objects.due):
pending, its attempt time reached, and held by no worker (no lease, or one that
has run out because its worker died). "In flight" is pending with a lease still
running: a worker is sending it now.

Both are served by the (status, next_attempt_at) index ``wh_deliv_due_idx``:
the oldest due delivery is the first index entry of ``status = 'pending'`` whose
lease is free (an index scan that stops at the first such row, however many
finished deliveries the log holds), and the per-webhook backlog is one range
scan over the due part of that index (measured in docs/operations.md).
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db import DatabaseError, router
from django.db.models import Count, Min, Q
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery, PurgedDeliveryCount, Webhook, WebhookSettings

logger = logging.getLogger(__name__)

DATABASE_DOWN = "The database does not answer."


def _free(now) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def _pending_reached(now):
    """Pending deliveries whose attempt time has come, leased or not (one index range)."""
    using = router.db_for_read(Delivery)
    return Delivery.objects.using(using).filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)


def oldest_due_at(*, now: datetime) -> datetime | None:
    """When the oldest due delivery (one no worker holds) became due; None when nothing is due."""
    return (
        _pending_reached(now)
        .filter(_free(now))
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def sending_enabled() -> bool:
    """The site-wide switch as the database holds it now (no per-process cache: health is read rarely)."""
    using = router.db_for_read(WebhookSettings)
    row = WebhookSettings.objects.using(using).filter(pk=1).values_list("enabled", flat=True).first()
    return True if row is None else bool(row)


@dataclass(frozen=True)
class Health:
    """What /healthz and webhooks_status report."""

    ok: bool
    reason: str  # why not ok ("" when ok)
    database: bool
    sending: bool | None  # None when the database did not answer
    oldest_due_seconds: float | None  # None when nothing is due (or the database did not answer)
    max_lag_seconds: float

    def public(self) -> dict:
        """The body of /healthz: the status and, when unhealthy, the reason; nothing else."""
        return {"status": "ok"} if self.ok else {"status": "unhealthy", "reason": self.reason}


def health_check(*, now: datetime | None = None) -> Health:
    """Healthy when the database answers and the oldest due delivery is younger than HEALTH_MAX_LAG.

    While sending is switched off site-wide deliveries wait on purpose: the lag is
    reported but not judged.
    """
    now = now or timezone.now()
    max_lag = float(app_settings.HEALTH_MAX_LAG)
    try:
        oldest = oldest_due_at(now=now)
        sending = sending_enabled()
    except DatabaseError:
        logger.exception("Health check: the database does not answer")
        return Health(False, DATABASE_DOWN, False, None, None, max_lag)
    lag = None if oldest is None else max((now - oldest).total_seconds(), 0.0)
    if sending and lag is not None and lag > max_lag:
        reason = (
            f"The oldest due delivery has waited {lag:.0f} s, more than WEBHOOKS['HEALTH_MAX_LAG'] "
            f"({max_lag:g} s): the workers are stopped or cannot keep up."
        )
        return Health(False, reason, True, sending, lag, max_lag)
    return Health(True, "", True, sending, lag, max_lag)


@dataclass
class WebhookBacklog:
    """One webhook's part of the backlog."""

    webhook_id: int
    name: str
    due: int = 0
    in_flight: int = 0
    oldest_due_seconds: float | None = None


@dataclass
class Backlog:
    """Due and in-flight deliveries per webhook (webhooks with neither are left out)."""

    webhooks: list[WebhookBacklog] = field(default_factory=list)

    @property
    def due(self) -> int:
        return sum(w.due for w in self.webhooks)

    @property
    def in_flight(self) -> int:
        return sum(w.in_flight for w in self.webhooks)

    def as_dict(self) -> dict:
        return {"due": self.due, "in_flight": self.in_flight, "webhooks": [asdict(w) for w in self.webhooks]}


def backlog_read(*, now: datetime | None = None, names: bool = True) -> Backlog:
    """Per webhook: how many deliveries are due, how many in flight, and the oldest due one's age.

    One grouped query over the due range of the (status, next_attempt_at) index;
    ``names`` adds a second one for the webhooks' names (the metrics label by id only).
    """
    now = now or timezone.now()
    free, leased = _free(now), Q(lease_until__gte=now)
    rows = (
        _pending_reached(now)
        .values("webhook_id")
        .annotate(
            due=Count("pk", filter=free),
            in_flight=Count("pk", filter=leased),
            oldest=Min("next_attempt_at", filter=free),
        )
        .order_by()
    )
    found = {
        row["webhook_id"]: WebhookBacklog(
            webhook_id=row["webhook_id"],
            name="",
            due=row["due"],
            in_flight=row["in_flight"],
            oldest_due_seconds=None
            if row["oldest"] is None
            else max((now - row["oldest"]).total_seconds(), 0.0),
        )
        for row in rows
    }
    if names and found:
        using = router.db_for_read(Webhook)
        for pk, name in Webhook.objects.using(using).filter(pk__in=list(found)).values_list("pk", "name"):
            found[pk].name = name
    ordered = sorted(found.values(), key=lambda w: (-(w.oldest_due_seconds or 0), -w.due, w.webhook_id))
    return Backlog(webhooks=ordered)


FINAL_STATUSES = (
    Delivery.Status.SUCCEEDED,
    Delivery.Status.FAILED,
    Delivery.Status.CANCELLED,
    Delivery.Status.SKIPPED,
)


def deliveries_finished_counts() -> dict[tuple[int, str], int]:
    """Finished deliveries ever, per (webhook id, status): those in the log plus those the purge deleted.

    One statement (a UNION ALL), so one snapshot: a purge batch that deletes rows
    and adds them to PurgedDeliveryCount in one transaction is seen before or
    after, never half, and the sum never goes down while its webhook exists. The
    log's part is an index-only scan of (webhook, status, created_at): its cost
    grows with the log (~0.25 s per million deliveries on the test machine,
    docs/operations.md).
    """
    using = router.db_for_read(Delivery)
    logged = (
        Delivery.objects.using(using)
        .filter(status__in=FINAL_STATUSES)
        .values_list("webhook_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    purged = (
        PurgedDeliveryCount.objects.using(using)
        .filter(count__gt=0)
        .values_list("webhook_id", "status", "count")
    )
    totals: dict[tuple[int, str], int] = {}
    for webhook_id, status, n in logged.union(purged, all=True):
        totals[(webhook_id, status)] = totals.get((webhook_id, status), 0) + n
    return totals


def webhooks_by_state() -> dict[str, int]:
    """How many webhooks are enabled and disabled."""
    using = router.db_for_read(Webhook)
    rows = Webhook.objects.using(using).values_list("enabled").annotate(n=Count("pk")).order_by()
    counts = {"enabled": 0, "disabled": 0}
    for enabled, n in rows:
        counts["enabled" if enabled else "disabled"] += n
    return counts
