"""Reads: the state of a delivery, the health of a webhook, and the log across all webhooks.

One place says what a delivery and a webhook are doing, so that the console's list,
the webhook page, the delivery log, the delivery page and the API's ``health`` all
say the same thing:

- a delivery is *pending* (never tried), *retrying* (a try failed; attempt n of m,
  the next one due at a time), *succeeded*, *failed*, *cancelled* or *skipped*;
- a webhook is *disabled* (with the reason and since when), *failing* (the
  deliveries since its last success did not get through: since when, how many in a
  row) or *healthy*.

Nothing here is stored: a state is read from the delivery rows (their status,
attempt count and last result) at each read, a few indexed lookups per page. The
console's log across all webhooks (deliveries_log) reads the same rows, filtered.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from . import texts
from .conf import app_settings
from .models import Attempt, Delivery, Webhook

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Deliveries -------------------------------------------------------------------------


def delivery_tried_and_failed(delivery) -> bool:
    """True when a pending delivery has a failed try behind it (its last result is recorded)."""
    return bool(delivery.attempt_count) and (
        delivery.last_response_status is not None or bool(delivery.last_error)
    )


# The same test as a query condition: a delivery whose tries so far did not get through.
FAILING = Q(status=Delivery.Status.FAILED) | (
    Q(status=Delivery.Status.PENDING, attempt_count__gt=0)
    & (Q(last_response_status__isnull=False) | ~Q(last_error=""))
)
# A delivery cancelled before any try says nothing about the receiver (for example a
# redelivery on a disabled webhook): "Last delivery" looks past it.
SAYS_NOTHING = Q(status=Delivery.Status.CANCELLED, attempt_count=0)


def attempts_max() -> int:
    """How many tries a delivery gets: the first one and one per RETRY_SCHEDULE delay."""
    return 1 + len(app_settings.RETRY_SCHEDULE or [])


@dataclass(frozen=True)
class DeliveryState:
    """What a delivery is doing, as the console and the API say it."""

    code: str  # pending | retrying | succeeded | failed | cancelled | skipped
    attempt: int | None = None  # retrying: the number of the try that comes next (or runs now)
    attempts_max: int | None = None
    next_attempt_at: datetime | None = None  # retrying: when that try is due
    in_flight: bool = False  # a worker is trying it right now

    @property
    def label(self) -> str:
        return DELIVERY_LABELS[self.code]()

    @property
    def detail(self) -> str:
        """ "attempt 3 of 6" for a retrying delivery, else ""."""
        if self.code != "retrying":
            return ""
        return gettext("attempt %(n)s of %(m)s") % {"n": self.attempt, "m": self.attempts_max}

    def as_dict(self) -> dict:
        return {
            "state": self.code,
            "attempt": self.attempt,
            "attempts_max": self.attempts_max,
            "next_attempt_at": self.next_attempt_at,
        }


DELIVERY_LABELS = {
    "pending": lambda: gettext("Pending"),
    "retrying": lambda: gettext("Retrying"),
    "succeeded": lambda: gettext("Succeeded"),
    "failed": lambda: gettext("Failed"),
    "cancelled": lambda: gettext("Cancelled"),
    "skipped": lambda: gettext("Skipped"),
}


def delivery_state(delivery, *, now: datetime | None = None) -> DeliveryState:
    """The state of one delivery, from its status, attempt count and last result."""
    if delivery.status != Delivery.Status.PENDING:
        return DeliveryState(code=delivery.status)
    if not delivery_tried_and_failed(delivery):
        return DeliveryState(code="pending")
    now = now or timezone.now()
    # attempt_count counts a try when it starts: while a worker holds the delivery
    # (its lease runs) that try is under way, else the next one is due.
    in_flight = delivery.lease_until is not None and delivery.lease_until > now
    number = delivery.attempt_count if in_flight else delivery.attempt_count + 1
    return DeliveryState(
        code="retrying",
        attempt=number,
        attempts_max=max(attempts_max(), number),
        next_attempt_at=None if in_flight else delivery.next_attempt_at,
        in_flight=in_flight,
    )


def deliveries_state_attach(deliveries, *, now: datetime | None = None) -> list:
    """Give each delivery of a page its ``state`` (a DeliveryState)."""
    now = now or timezone.now()
    deliveries = list(deliveries)
    for delivery in deliveries:
        delivery.state = delivery_state(delivery, now=now)
    return deliveries


# Webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookHealth:
    """Whether a webhook's receiver gets what is sent to it."""

    code: str  # healthy | failing | disabled
    since: datetime | None = None  # failing: the first failed try after the last success; disabled: when
    consecutive_failures: int = 0  # failing: deliveries in a row that did not get through
    reason: str = ""  # disabled: why
    last_delivery: Delivery | None = None  # the most recent delivery that says something
    last_success_at: datetime | None = None

    @property
    def label(self) -> str:
        return WEBHOOK_LABELS[self.code]()

    def as_dict(self) -> dict:
        """The API's ``health`` of a webhook."""
        return {
            "state": self.code,
            "since": self.since,
            "consecutive_failures": self.consecutive_failures,
            "reason": self.reason,
            "last_success_at": self.last_success_at,
        }


WEBHOOK_LABELS = {
    "healthy": lambda: gettext("Healthy"),
    "failing": lambda: gettext("Failing"),
    "disabled": lambda: gettext("Disabled"),
}


def webhooks_health(webhooks, *, now: datetime | None = None) -> dict[int, WebhookHealth]:
    """The health of a page of webhooks (and each one's last delivery), in two queries.

    Per webhook, through its (webhook, [status,] -created_at) indexes: the newest
    delivery that says something (a delivery cancelled before any try does not), the
    newest success, the deliveries being retried after a failed try since that success
    (pending rows, few) and the oldest delivery since it whose tries failed, with its
    first try's time. A webhook is failing when deliveries since its last success did
    not get through: those the engine counted as failed for good
    (Webhook.consecutive_failures, reset by a success) and those still being retried.
    """
    webhooks = list(webhooks)
    if not webhooks:
        return {}
    now = now or timezone.now()
    mine = Delivery.objects.filter(webhook=OuterRef("pk"))
    last_ok = mine.filter(status=Delivery.Status.SUCCEEDED).order_by("-created_at", "-id")
    after_ok = Coalesce(OuterRef("h_ok_at"), Value(_EPOCH))
    retrying = (
        mine.filter(FAILING, status=Delivery.Status.PENDING, created_at__gt=after_ok)
        .order_by()
        .values("webhook")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = (
        Webhook.objects.filter(pk__in=[w.pk for w in webhooks])
        .annotate(
            h_last=Subquery(mine.exclude(SAYS_NOTHING).order_by("-created_at", "-id").values("pk")[:1]),
            h_ok_at=Subquery(last_ok.values("created_at")[:1]),
            h_ok_done=Subquery(last_ok.values("completed_at")[:1]),
        )
        .annotate(
            h_retrying=Coalesce(Subquery(retrying), Value(0)),
            h_bad=Subquery(
                mine.filter(FAILING, created_at__gt=after_ok).order_by("created_at", "id").values("pk")[:1]
            ),
        )
        .annotate(
            h_bad_at=Coalesce(
                Subquery(
                    Attempt.objects.filter(delivery=OuterRef("h_bad"), number=1).values("created_at")[:1]
                ),
                Subquery(Delivery.objects.filter(pk=OuterRef("h_bad")).values("created_at")[:1]),
            )
        )
        .values_list("pk", "h_last", "h_ok_at", "h_ok_done", "h_retrying", "h_bad_at")
        .order_by()
    )
    found = {row[0]: row[1:] for row in rows}
    last_ids = [last for last, *_ in found.values() if last]
    deliveries = Delivery.objects.in_bulk(last_ids) if last_ids else {}
    result = {}
    for webhook in webhooks:
        last, ok_at, ok_done, retrying_count, bad_at = found.get(webhook.pk, (None, None, None, 0, None))
        last_delivery = deliveries.get(last)
        if last_delivery is not None:
            last_delivery.state = delivery_state(last_delivery, now=now)
        common = {"last_delivery": last_delivery, "last_success_at": ok_done or ok_at}
        failures = (webhook.consecutive_failures or 0) + (retrying_count or 0)
        if not webhook.enabled:
            result[webhook.pk] = WebhookHealth(
                code="disabled",
                since=webhook.disabled_at,
                reason=texts.shown(webhook.disabled_code, webhook.disabled_params, webhook.disabled_reason)
                or gettext("Disabled by a user."),
                **common,
            )
        elif failures:
            result[webhook.pk] = WebhookHealth(
                code="failing",
                since=min(t for t in (bad_at, webhook.failing_since) if t)
                if (bad_at or webhook.failing_since)
                else None,
                consecutive_failures=failures,
                **common,
            )
        else:
            result[webhook.pk] = WebhookHealth(code="healthy", **common)
    return result


def webhook_health(webhook, *, now: datetime | None = None) -> WebhookHealth:
    """One webhook's health (the webhook page, the API's detail)."""
    return webhooks_health([webhook], now=now)[webhook.pk]


def webhooks_health_attach(webhooks, *, now: datetime | None = None) -> list:
    """Give each webhook of a page its ``health`` (a WebhookHealth)."""
    webhooks = list(webhooks)
    healths = webhooks_health(webhooks, now=now)
    for webhook in webhooks:
        webhook.health = healths[webhook.pk]
    return webhooks


def retrying_counts(*, webhook_ids, since: datetime) -> dict[int, int]:
    """Per webhook, the deliveries created since ``since`` that are being retried after a failed try.

    The list's success figure counts them with the failed ones: a receiver that has
    answered 500 to every try is not "—" because its deliveries have tries left.
    Pending rows are few; the (webhook, status, -created_at) index finds them.
    """
    rows = (
        Delivery.objects.filter(
            webhook_id__in=list(webhook_ids),
            status=Delivery.Status.PENDING,
            created_at__gte=since,
            attempt_count__gt=0,
        )
        .filter(Q(last_response_status__isnull=False) | ~Q(last_error=""))
        .values("webhook_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["webhook_id"]: row["n"] for row in rows}


# The log across all webhooks ------------------------------------------------------------


def deliveries_log(
    *,
    webhook_id: int | None = None,
    status: str = "",
    event_type: str = "",
    event_id_prefix: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
):
    """Every webhook's deliveries, newest first, filtered; for selectors.delivery_page (keyset).

    Each filter has an index that reads a page in one range scan at any depth
    (migration 0008): none -> (created_at); webhook -> (webhook, -created_at);
    status -> (status, -created_at); event type -> (event_type, -created_at); an event
    id prefix -> the event_id index (varchar_pattern_ops on PostgreSQL, which
    Django adds to a foreign key to a text key), whose few matches are then sorted.
    A page is read by key first (only ``pk`` and ``created_at``, which those indexes
    hold), then its rows (deliveries_log_fill): asked for whole rows, PostgreSQL
    guessed that failures spread evenly over time and scanned (created_at) past
    700,000 newer rows of other statuses (400 ms at 1M deliveries, when the failures
    were the oldest); asked for the keys, it reads one page of (status, -created_at,
    -id) without touching the table (0.1 ms).
    """
    qs = Delivery.objects.only("pk", "created_at")
    if webhook_id:
        qs = qs.filter(webhook_id=webhook_id)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    if event_id_prefix:
        qs = qs.filter(event__id__startswith=event_id_prefix)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def deliveries_log_fill(rows) -> list:
    """The whole rows of a log page read by key (deliveries_log), in its order, with their
    state (``state``) and their webhook's name (``webhook_name``); two queries."""
    full = Delivery.objects.in_bulk([row.pk for row in rows])
    return webhook_names_attach(deliveries_state_attach([full[row.pk] for row in rows if row.pk in full]))


def webhook_names_attach(deliveries) -> list:
    """Give each delivery of a log page its webhook's name (``webhook_name``), in one query
    that reads no encrypted field."""
    deliveries = list(deliveries)
    names = dict(Webhook.objects.filter(pk__in={d.webhook_id for d in deliveries}).values_list("pk", "name"))
    for delivery in deliveries:
        delivery.webhook_name = names.get(delivery.webhook_id, "")
    return deliveries
