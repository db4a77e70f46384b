"""Reads: which webhooks get an event, the console's and the API's log queries."""

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Trunc
from django.utils import timezone

from . import crypto
from .conf import app_settings
from .events import ALL_EVENTS, wildcard_resource
from .exceptions import ImproperlyConfiguredWebhooks
from .models import Attempt, Delivery, Event, Webhook, WebhookSettings
from .signing import mask
from .validators import CONTEXT_PREFIX

_MISSING = object()


def _lookup(data, path: str):
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _equal(value, expected) -> bool:
    """JSON equality: true is not 1 and false is not 0 (Python says they are)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value is expected
    return value == expected


def _one_of(value, values) -> bool:
    return isinstance(values, list) and any(_equal(value, item) for item in values)


def _ordered(value, expected) -> bool:
    """Both numbers or both texts: the only pairs $gt, $gte, $lt and $lte compare."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return False
    numbers = (int, float)
    return (isinstance(value, numbers) and isinstance(expected, numbers)) or (
        isinstance(value, str) and isinstance(expected, str)
    )


def _contains(value, expected) -> bool:
    if isinstance(value, str):
        return isinstance(expected, str) and expected in value
    return isinstance(value, list) and any(_equal(item, expected) for item in value)


# operator -> test of (value, operand); value is _MISSING when the path is absent.
# $ne and $nin hold for an absent field; every other operator needs the field.
_OPERATORS = {
    "$eq": lambda v, x: v is not _MISSING and _equal(v, x),
    "$ne": lambda v, x: v is _MISSING or not _equal(v, x),
    "$in": lambda v, x: v is not _MISSING and _one_of(v, x),
    "$nin": lambda v, x: v is _MISSING or not _one_of(v, x),
    "$gt": lambda v, x: _ordered(v, x) and v > x,
    "$gte": lambda v, x: _ordered(v, x) and v >= x,
    "$lt": lambda v, x: _ordered(v, x) and v < x,
    "$lte": lambda v, x: _ordered(v, x) and v <= x,
    "$exists": lambda v, x: (v is not _MISSING) is x,
    "$contains": lambda v, x: v is not _MISSING and _contains(v, x),
}


def _condition_holds(value, expected) -> bool:
    if isinstance(expected, dict):
        # An operator the validator would refuse (a row written past validation)
        # matches nothing: a broken filter must not send everything.
        return bool(expected) and all(
            op in _OPERATORS and _OPERATORS[op](value, operand) for op, operand in expected.items()
        )
    if isinstance(expected, list):
        return value is not _MISSING and _one_of(value, expected)
    return value is not _MISSING and _equal(value, expected)


def webhook_filters_match(*, filters: dict, data: dict, context: dict | None = None) -> bool:
    """True when the event passes the webhook's filters (the language of validators.validate_filters).

    Keys at one level must all hold: a dotted path into ``data`` (or
    ``$context.<path>`` into ``context``) compared with a literal (equal), a list
    (one of) or an object of operators; ``$or``/``$and`` combine lists of filters.
    Values compare as JSON: ``1`` never equals ``true``, and ``$gt``-style operators
    compare numbers with numbers and texts with texts only.
    """
    if not filters:
        return True
    if not isinstance(filters, dict):
        return False
    context = context or {}
    for key, expected in filters.items():
        if key == "$or":
            if not (isinstance(expected, list) and any(_sub_match(f, data, context) for f in expected)):
                return False
        elif key == "$and":
            if not (isinstance(expected, list) and all(_sub_match(f, data, context) for f in expected)):
                return False
        else:
            path = key.removeprefix(CONTEXT_PREFIX)
            value = _lookup(context if path != key else data, path)
            if not _condition_holds(value, expected):
                return False
    return True


def _sub_match(filters, data, context) -> bool:
    return (
        isinstance(filters, dict)
        and bool(filters)
        and webhook_filters_match(filters=filters, data=data, context=context)
    )


class _Subscriptions:
    """This process' copy of the enabled webhooks' subscriptions and filters.

    Read once, then reused for SUBSCRIPTION_CACHE_SECONDS: an emit costs no query
    for it, whatever the number of webhooks. A change made in this process (any
    save or delete of a Webhook, a setting change) drops the copy at once; a change
    made in another process is seen within SUBSCRIPTION_CACHE_SECONDS. A webhook
    deleted or disabled meanwhile gets nothing: deliveries are inserted only for
    webhooks that still exist and are enabled (services.events).
    """

    def __init__(self):
        self._rows: list[Webhook] | None = None
        self._loaded_at = 0.0

    def clear(self, **kwargs) -> None:
        self._rows = None

    def rows(self) -> list[Webhook]:
        ttl = float(app_settings.SUBSCRIPTION_CACHE_SECONDS or 0)
        if self._rows is None or ttl <= 0 or time.monotonic() - self._loaded_at > ttl:
            self._loaded_at = time.monotonic()
            self._rows = list(
                Webhook.objects.filter(enabled=True).only("id", "events", "filters", "destination")
            )
        return self._rows


subscriptions = _Subscriptions()
setting_changed.connect(subscriptions.clear, dispatch_uid="webhooks_app.subscriptions")


class _SendingSwitch:
    """The site-wide switch (WebhookSettings.enabled), read at most once a second per
    process (workers ask before every claim); a change made in this process counts at once."""

    MAX_AGE = 1.0

    def __init__(self):
        self._value: bool | None = None
        self._read_at = 0.0

    def clear(self, **kwargs) -> None:
        self._value = None

    def enabled(self) -> bool:
        if self._value is None or time.monotonic() - self._read_at > self.MAX_AGE:
            self._read_at = time.monotonic()
            row = WebhookSettings.objects.filter(pk=1).values_list("enabled", flat=True).first()
            self._value = True if row is None else bool(row)
        return self._value


sending = _SendingSwitch()


def webhook_settings_get() -> WebhookSettings:
    """The site-wide settings row (created with its defaults on first use)."""
    return WebhookSettings.load()


def webhooks_for_event(*, event_type: str, data: dict, context: dict | None = None) -> list[Webhook]:
    """The enabled webhooks subscribed to event_type whose filters pass.

    Subscriptions and filters are checked in Python (JSON containment is not portable
    to SQLite) over this process' cached copy of the enabled webhooks; the instances
    returned hold only ``id``, ``events``, ``filters`` and ``destination``.
    """
    return [
        w
        for w in subscriptions.rows()
        if w.subscribes_to(event_type)
        and webhook_filters_match(filters=w.filters, data=data, context=context)
    ]


# Encrypted columns: list pages never decrypt them beyond what they show, and a
# row whose secrets no configured key can read still lists (with a marker).
SECRET_FIELDS = ("secret", "previous_secret", "api_key", "encryption_key", "headers")
UNREADABLE_HINT = "(cannot be decrypted)"


def webhook_list(*, search: str = "") -> QuerySet[Webhook]:
    """Webhooks with their last delivery and 24-hour counts, for the console and API lists.

    The encrypted fields are deferred; their stored tokens ride along undecrypted
    (``secret_stored``, ``api_key_stored``) for webhook_api_key_hint and
    webhook_secrets_readable, which decrypt one lazily and survive a failure.
    """
    qs = Webhook.objects.defer(*SECRET_FIELDS).annotate(
        # A plain TextField output: the value skips EncryptedTextField.from_db_value.
        secret_stored=ExpressionWrapper(F("secret"), output_field=TextField()),
        api_key_stored=ExpressionWrapper(F("api_key"), output_field=TextField()),
        headers_stored=ExpressionWrapper(F("headers"), output_field=TextField()),
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(url__icontains=search))
    return webhook_stats_annotate(qs)


def _stored_decrypt(token: str | None) -> str | None:
    """The clear value of a stored token, or None when no configured key reads it."""
    try:
        return crypto.decrypt(token or "")
    except ImproperlyConfiguredWebhooks:
        return None


def webhook_api_key_hint(webhook: Webhook) -> str:
    """The masked API key, or UNREADABLE_HINT when it cannot be decrypted."""
    if hasattr(webhook, "api_key_stored") and "api_key" in webhook.get_deferred_fields():
        key = _stored_decrypt(webhook.api_key_stored)
        return UNREADABLE_HINT if key is None else mask(key)
    return webhook.api_key_hint


def webhook_headers_hint(webhook: Webhook) -> dict:
    """The custom headers with masked values; each value UNREADABLE_HINT when no key decrypts them."""
    if hasattr(webhook, "headers_stored") and "headers" in webhook.get_deferred_fields():
        if not webhook.headers_stored:
            return {}
        text = _stored_decrypt(webhook.headers_stored)
        if text is None:
            return {"": UNREADABLE_HINT}
        return {name: mask(value) for name, value in json.loads(text).items()}
    return webhook.headers_masked


def webhook_secrets_readable(webhook: Webhook) -> bool:
    """False when the signing secret of a listed webhook cannot be decrypted (it cannot be delivered)."""
    if not hasattr(webhook, "secret_stored") or "secret" not in webhook.get_deferred_fields():
        return True  # loaded in full: it was decrypted on load
    return _stored_decrypt(webhook.secret_stored) is not None


def webhook_stats_annotate(qs: QuerySet[Webhook]) -> QuerySet[Webhook]:
    """Add last_delivery_status/_at: one row of the (webhook, -created_at) index each.

    Correlated subqueries, so the Meta ordering holds and a paginator's COUNT(*)
    drops them. The 24-hour figures are not counted here (86,000 rows per webhook
    in a busy log): webhooks_insight_attach adds them to a page from the hourly rollup.
    """
    last = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-id")
    return qs.annotate(
        last_delivery_status=Subquery(last.values("status")[:1]),
        last_delivery_at=Subquery(last.values("created_at")[:1]),
    )


def success_rate(webhook) -> float | None:
    """Share of the finished deliveries of the last 24 hours that succeeded (None: none).

    Reads what webhooks_insight_attach gave a page of webhooks; a webhook read on
    its own gets its figures here.
    """
    if not hasattr(webhook, "insight_24h"):
        webhooks_insight_attach([webhook])
    return webhook.insight_24h.success_rate


def delivery_list(
    *, webhook, status: str = "", event_type: str = "", since=None, until=None, event_id: str = ""
):
    """A webhook's deliveries, newest first, filtered; heavy fields stay in the rows."""
    qs = Delivery.objects.filter(webhook=webhook).select_related("event")
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    if event_id:
        qs = qs.filter(event_id=event_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def delivery_get(*, pk) -> Delivery:
    return Delivery.objects.select_related("webhook", "event").get(pk=pk)


# Recorded events read at most to find the last ones of the chosen types.
FILTER_TEST_SCAN = 1000


def events_filter_test(*, events: list[str], filters: dict, limit: int = 20) -> list[dict]:
    """The last ``limit`` recorded events a subscription to ``events`` receives, and whether
    ``filters`` would have let each through ({"id", "event_type", "created_at", "sent"}).

    The subscription is matched by Webhook.subscribes_to and the filters by
    webhook_filters_match: exactly what the engine does. Only recorded events count:
    an event no webhook received was never written.
    """
    probe = Webhook(events=list(events))
    qs = Event.objects.order_by("-created_at", "-pk")
    if ALL_EVENTS not in events:
        condition = Q()
        for name in events:
            resource = wildcard_resource(name)
            condition |= Q(event_type__startswith=f"{resource}.") if resource else Q(event_type=name)
        qs = qs.filter(condition)
    results = []
    for event in qs[:FILTER_TEST_SCAN].iterator():
        if not probe.subscribes_to(event.event_type):
            continue
        sent = webhook_filters_match(filters=filters, data=event.data, context=event.context)
        results.append(
            {
                "id": event.pk,
                "event_type": event.event_type,
                "created_at": event.created_at.isoformat(),
                "sent": sent,
            }
        )
        if len(results) >= limit:
            break
    return results


def attempt_list(*, delivery) -> QuerySet[Attempt]:
    return Attempt.objects.filter(delivery=delivery).order_by("number", "id")


# The delivery log, by keyset ------------------------------------------------------


@dataclass
class DeliveryPage:
    """One page of a webhook's delivery log, newest first, and the cursors around it."""

    rows: list
    newer: str | None  # cursor of the page of newer deliveries (None: this is the newest)
    older: str | None  # cursor of the page of older deliveries (None: nothing older)


def delivery_cursor(delivery) -> str:
    """A position in the log, (created_at, id), as text for a query string."""
    moment = delivery.created_at.astimezone(UTC)
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}-{delivery.pk}"


# ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses.
DELIVERY_CURSOR_RE = re.compile(r"([0-9]{1,20})-([0-9]{1,19})")
MAX_PK = 2**63 - 1  # a BigAutoField; a larger id would overflow the query's parameter


def delivery_cursor_parse(cursor: str | None) -> tuple[datetime, int] | None:
    """The (created_at, id) a delivery_cursor() text names, or None when it names none."""
    match = DELIVERY_CURSOR_RE.fullmatch(cursor) if isinstance(cursor, str) else None
    if not match or int(match[2]) > MAX_PK:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(match[1])), int(match[2])
    except OverflowError:  # beyond the year 9999
        return None


def delivery_page(
    *, queryset: QuerySet[Delivery], size: int, older: str = "", newer: str = ""
) -> DeliveryPage:
    """A page of ``queryset`` (a delivery_list) before ``older`` or after ``newer``.

    Keyset pagination on (created_at, id): each page is one range scan of the
    (webhook, [status | event_type,] -created_at) indexes, however deep, and no
    COUNT(*) (page 2,000 of a million-row log costs what page 1 does). A cursor
    that cannot be read gives the newest page.
    """
    after = delivery_cursor_parse(newer)
    before = None if after else delivery_cursor_parse(older)
    qs = queryset.order_by("-created_at", "-id")
    if after:
        moment, pk = after
        # The redundant created_at__gte bounds the index scan; the Q decides ties.
        qs = qs.filter(Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk), created_at__gte=moment)
        rows = list(qs.order_by("created_at", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return DeliveryPage(
            rows=rows,
            newer=delivery_cursor(rows[0]) if rows and more_newer else None,
            older=delivery_cursor(rows[-1]) if rows else older or None,
        )
    if before:
        moment, pk = before
        qs = qs.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk), created_at__lte=moment)
    rows = list(qs[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return DeliveryPage(
        rows=rows,
        newer=delivery_cursor(rows[0]) if rows and before else None,
        older=delivery_cursor(rows[-1]) if rows and more_older else None,
    )


# Insight: deliveries per hour, success rate, response times ------------------------

# period -> (hours covered, hours per bucket)
INSIGHT_PERIODS = {"24h": (24, 1), "7d": (168, 6)}
# An hour is counted for good (DeliveryStatsHour) once it ended this long ago and
# none of its deliveries is pending: by then every transaction that created one of
# its deliveries has committed.
INSIGHT_SETTLE = timedelta(minutes=2)
# Rollup rows older than this are deleted (the longest period is 7 days).
INSIGHT_KEEP = timedelta(days=8)
# Response-time histogram buckets (ms): bucket i holds [bounds[i], bounds[i + 1]),
# the last one everything from 60 s. Percentiles are read as the lower bound of the
# bucket they fall in (at most ~20 % below the exact value).
LATENCY_BOUNDS_MS = (
    0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250,
    300, 400, 500, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000,
    10000, 12000, 15000, 20000, 25000, 30000, 40000, 50000, 60000,
)  # fmt: skip
_FINISHED = (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED)


@dataclass
class InsightBucket:
    start: datetime
    succeeded: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.pending


@dataclass
class Insight:
    """What a webhook's chart shows: deliveries per bucket by outcome, success rate, p50/p95."""

    period: str
    buckets: list[InsightBucket]
    latency: Counter = field(default_factory=Counter)  # histogram bucket index -> count

    @property
    def succeeded(self) -> int:
        return sum(b.succeeded for b in self.buckets)

    @property
    def failed(self) -> int:
        return sum(b.failed for b in self.buckets)

    @property
    def pending(self) -> int:
        return sum(b.pending for b in self.buckets)

    @property
    def success_rate(self) -> float | None:
        """Share of the finished deliveries that succeeded (None: none finished)."""
        finished = self.succeeded + self.failed
        return None if not finished else self.succeeded / finished

    def percentile(self, share: float) -> int | None:
        total = sum(self.latency.values())
        if not total:
            return None
        rank, seen = max(1, math.ceil(share * total)), 0
        for index in sorted(self.latency):
            seen += self.latency[index]
            if seen >= rank:
                return LATENCY_BOUNDS_MS[index]
        return LATENCY_BOUNDS_MS[-1]

    def as_dict(self) -> dict:
        """The shape of GET /api/webhooks/{id}/stats/."""
        return {
            "period": self.period,
            "buckets": [
                {"start": b.start, "succeeded": b.succeeded, "failed": b.failed, "pending": b.pending}
                for b in self.buckets
            ],
            "success_rate": self.success_rate,
            "latency_ms": {"p50": self.percentile(0.5), "p95": self.percentile(0.95)},
        }


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def insight_window(period: str, now: datetime) -> tuple[datetime, list[datetime], int]:
    """(first hour, bucket starts, hours per bucket) of a period ending with the current bucket.

    Buckets are aligned on UTC: hours for 24h, 00/06/12/18 h for 7d; the last one
    is the bucket now is in, so the window reaches back 23-24 h (or 162-168 h).
    """
    hours, step = INSIGHT_PERIODS[period]
    current = _hour_floor(now)
    current -= timedelta(hours=current.hour % step)
    count = hours // step
    starts = [current - timedelta(hours=step * (count - 1 - i)) for i in range(count)]
    return starts[0], starts, step


def _latency_bucket() -> RawSQL:
    """The histogram bucket of a delivery's last response time; -1 when unfinished or unknown.

    Written as SQL once (only integer literals and this model's column names): the
    same CASE built from 48 When() objects cost ~2 ms of ORM work per query.
    """
    global _LATENCY_SQL
    if _LATENCY_SQL is None:
        quote = connections[router.db_for_read(Delivery)].ops.quote_name
        duration, status = quote("last_duration_ms"), quote("status")
        finished = ", ".join(f"'{s}'" for s in _FINISHED)
        whens = " ".join(
            f"WHEN {duration} < {bound} THEN {index - 1}"
            for index, bound in enumerate(LATENCY_BOUNDS_MS)
            if index
        )
        _LATENCY_SQL = (
            f"CASE WHEN {duration} IS NULL OR {status} NOT IN ({finished}) THEN -1 "
            f"{whens} ELSE {len(LATENCY_BOUNDS_MS) - 1} END"
        )
    return RawSQL(_LATENCY_SQL, (), output_field=IntegerField())  # noqa: S611 - no input in it


_LATENCY_SQL = None


def _runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [start, end) ranges."""
    runs: list[list[datetime]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1][1] = hour + timedelta(hours=1)
        else:
            runs.append([hour, hour + timedelta(hours=1)])
    return [(a, b) for a, b in runs]


def webhooks_insight(
    *, webhook_ids, period: str = "24h", now: datetime | None = None, latency: bool = True
) -> dict[int, Insight]:
    """The Insight of several webhooks in at most three queries, whatever their logs' size.

    Finished hours come from DeliveryStatsHour (one row per webhook and hour); the
    hours still open (the current one, and any with a pending delivery) are counted
    from the deliveries through the (webhook, created_at) index, and an hour found
    finished is stored for the next read. The buckets count deliveries by creation
    time and current status; latency is the last attempt's response time of the
    finished (succeeded or failed) deliveries; ``latency=False`` leaves it out (the
    lists show counts only, and reading the stored histograms is most of the work).
    """
    from .models import DeliveryStatsHour

    ids = list(dict.fromkeys(webhook_ids))
    now = now or timezone.now()
    first, starts, step = insight_window(period, now)
    current = _hour_floor(now)
    hours = [first + timedelta(hours=i) for i in range(int((current - first) / timedelta(hours=1)) + 1)]
    cells: dict[tuple[int, datetime], dict] = {}
    if ids:
        fields = ["webhook_id", "hour", "succeeded", "failed"] + (["latency"] if latency else [])
        for row in DeliveryStatsHour.objects.filter(webhook_id__in=ids, hour__gte=first).values(*fields):
            cells[(row["webhook_id"], row["hour"].astimezone(UTC))] = {
                "succeeded": row["succeeded"],
                "failed": row["failed"],
                "pending": 0,
                "latency": Counter({int(k): v for k, v in (row.get("latency") or {}).items()}),
            }
    missing: dict[int, list[datetime]] = {}
    by_runs: dict[tuple, list[int]] = {}  # webhooks with the same open hours share a condition
    for pk in ids:
        gaps = [h for h in hours if (pk, h) not in cells]
        if gaps:
            missing[pk] = gaps
            by_runs.setdefault(tuple(_runs(gaps)), []).append(pk)
    open_ranges = Q()
    for runs, pks in by_runs.items():
        for start, end in runs:
            bound = Q(webhook_id__in=pks, created_at__gte=start)
            open_ranges |= bound if end > current else bound & Q(created_at__lt=end)
    if missing:
        live: dict[tuple[int, datetime], dict] = {}
        rows = (
            Delivery.objects.filter(open_ranges)
            .annotate(hour=Trunc("created_at", "hour", tzinfo=UTC), latency_bucket=_latency_bucket())
            .values("webhook_id", "hour", "status", "latency_bucket")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for row in rows:
            cell = live.setdefault(
                (row["webhook_id"], row["hour"].astimezone(UTC)),
                {"succeeded": 0, "failed": 0, "pending": 0, "other": 0, "latency": Counter()},
            )
            status = row["status"]
            cell[status if status in ("succeeded", "failed", "pending") else "other"] += row["n"]
            if row["latency_bucket"] >= 0:
                cell["latency"][row["latency_bucket"]] += row["n"]
        settled = now - INSIGHT_SETTLE
        finished_rows = []
        for pk, gaps in missing.items():
            for hour in gaps:
                cell = live.get((pk, hour)) or {
                    "succeeded": 0, "failed": 0, "pending": 0, "other": 0, "latency": Counter()
                }  # fmt: skip
                cells[(pk, hour)] = cell
                if hour + timedelta(hours=1) <= settled and not cell["pending"]:
                    finished_rows.append(
                        DeliveryStatsHour(
                            webhook_id=pk,
                            hour=hour,
                            succeeded=cell["succeeded"],
                            failed=cell["failed"],
                            other=cell["other"],
                            latency={str(k): v for k, v in cell["latency"].items()},
                        )
                    )
        if finished_rows:
            # Two readers may count the same hour: the same numbers, the first one stays.
            DeliveryStatsHour.objects.bulk_create(finished_rows, ignore_conflicts=True)
            # Hours no period reaches any more go (about once an hour per webhook),
            # so the rollup stays at ~200 rows per webhook whatever the retention.
            DeliveryStatsHour.objects.filter(
                webhook_id__in={row.webhook_id for row in finished_rows}, hour__lt=now - INSIGHT_KEEP
            ).delete()
    result = {}
    for pk in ids:
        insight = Insight(period=period, buckets=[InsightBucket(start=s) for s in starts])
        for hour in hours:
            cell = cells.get((pk, hour))
            if not cell:
                continue
            bucket = insight.buckets[int((hour - first) / timedelta(hours=step))]
            bucket.succeeded += cell["succeeded"]
            bucket.failed += cell["failed"]
            bucket.pending += cell["pending"]
            if latency:
                insight.latency.update(cell["latency"])
        result[pk] = insight
    return result


def webhook_insight(*, webhook, period: str = "24h", now: datetime | None = None) -> Insight:
    """One webhook's Insight: the console's chart and GET /api/webhooks/{id}/stats/."""
    pk = getattr(webhook, "pk", webhook)
    return webhooks_insight(webhook_ids=[pk], period=period, now=now)[pk]


def webhooks_insight_attach(webhooks, *, now: datetime | None = None) -> list:
    """Give each listed webhook its last-24-hours Insight (``insight_24h``) and the figures
    the lists show (``deliveries_24h_succeeded``/``_failed``), in one go for the page."""
    webhooks = list(webhooks)
    insights = webhooks_insight(webhook_ids=[w.pk for w in webhooks], period="24h", now=now, latency=False)
    for webhook in webhooks:
        insight = insights[webhook.pk]
        webhook.insight_24h = insight
        webhook.deliveries_24h_succeeded = insight.succeeded
        webhook.deliveries_24h_failed = insight.failed
    return webhooks
