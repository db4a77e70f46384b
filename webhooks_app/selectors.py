"""Reads: which webhooks get an event, what the sweep must enqueue, log queries."""

from datetime import timedelta

from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .conf import app_settings
from .models import Attempt, Delivery, Webhook

_MISSING = object()


def _lookup(data, path: str):
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def webhook_filters_match(*, filters: dict, data: dict) -> bool:
    """True when every filter holds: a value must equal, a list must contain."""
    for path, expected in (filters or {}).items():
        value = _lookup(data, path)
        if value is _MISSING:
            return False
        if isinstance(expected, list):
            if value not in expected:
                return False
        elif value != expected:
            return False
    return True


def webhooks_for_event(*, event_type: str, data: dict) -> list[Webhook]:
    """Enabled webhooks subscribed to event_type whose filters pass.

    One query over the enabled webhooks; subscriptions and filters are checked in
    Python because JSON containment is not portable to SQLite.
    """
    return [
        w
        for w in Webhook.objects.filter(enabled=True).only("id", "events", "filters")
        if w.subscribes_to(event_type) and webhook_filters_match(filters=w.filters, data=data)
    ]


def deliveries_needing_task(*, now=None, limit: int | None = None, stale: bool = True) -> list[int]:
    """Ids of due pending deliveries that have no live task (the sweep's work).

    With ``stale`` False, a delivery whose task was enqueued more than REQUEUE_AFTER
    ago and has not started is not included (its task is likely still queued).
    """
    now = now or timezone.now()
    if stale:
        threshold = now - timedelta(seconds=app_settings.REQUEUE_AFTER)
        is_stale = Q(enqueued_at__lt=threshold)
    else:
        is_stale = Q(pk__in=[])
    never_or_stale = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("next_attempt_at")) | is_stale
    lease_expired = Q(lease_until__lt=now) & (
        Q(enqueued_at__lt=F("lease_until")) | is_stale | Q(enqueued_at__isnull=True)
    )
    qs = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter((Q(lease_until__isnull=True) & never_or_stale) | lease_expired)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
    )
    return list(qs[: limit or app_settings.SWEEP_BATCH])


def webhook_list(*, search: str = "") -> QuerySet[Webhook]:
    """Webhooks with their last delivery and 24-hour counts, for the console and API."""
    qs = Webhook.objects.all()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(url__icontains=search))
    return webhook_stats_annotate(qs)


def webhook_stats_annotate(qs: QuerySet[Webhook]) -> QuerySet[Webhook]:
    """Add last_delivery_status/_at and the 24-hour succeeded/failed counts.

    Correlated subqueries per webhook, not a join with GROUP BY: each count reads
    only the last 24 hours of one webhook through the (webhook, status, -created_at)
    index, so the cost does not grow with the whole log, the Meta ordering holds and
    a paginator's COUNT(*) drops the subqueries.
    """
    since = timezone.now() - timedelta(hours=24)
    last = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-id")

    def recent(status: str):
        rows = Delivery.objects.filter(webhook=OuterRef("pk"), status=status, created_at__gte=since)
        count = rows.order_by().annotate(n=Func("pk", function="COUNT")).values("n")[:1]
        return Coalesce(Subquery(count, output_field=IntegerField()), 0)

    return qs.annotate(
        last_delivery_status=Subquery(last.values("status")[:1]),
        last_delivery_at=Subquery(last.values("created_at")[:1]),
        deliveries_24h_succeeded=recent(Delivery.Status.SUCCEEDED),
        deliveries_24h_failed=recent(Delivery.Status.FAILED),
    )


def success_rate(webhook) -> float | None:
    """Share of finished deliveries of the last 24 h that succeeded (None: none)."""
    ok = getattr(webhook, "deliveries_24h_succeeded", 0) or 0
    failed = getattr(webhook, "deliveries_24h_failed", 0) or 0
    return None if ok + failed == 0 else ok / (ok + failed)


def delivery_list(*, webhook, status: str = "", event_type: str = "", since=None, until=None):
    """A webhook's deliveries, newest first, filtered; heavy fields stay in the rows."""
    qs = Delivery.objects.filter(webhook=webhook).select_related("event")
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def delivery_get(*, pk) -> Delivery:
    return Delivery.objects.select_related("webhook", "event").get(pk=pk)


def attempt_list(*, delivery) -> QuerySet[Attempt]:
    return Attempt.objects.filter(delivery=delivery).order_by("number", "id")
