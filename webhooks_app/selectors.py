"""Reads: which webhooks get an event, the console's and the API's log queries."""

import time
from datetime import timedelta

from django.core.signals import setting_changed
from django.db.models import (
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.functions import Coalesce
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
SECRET_FIELDS = ("secret", "previous_secret", "api_key", "encryption_key")
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


def webhook_secrets_readable(webhook: Webhook) -> bool:
    """False when the signing secret of a listed webhook cannot be decrypted (it cannot be delivered)."""
    if not hasattr(webhook, "secret_stored") or "secret" not in webhook.get_deferred_fields():
        return True  # loaded in full: it was decrypted on load
    return _stored_decrypt(webhook.secret_stored) is not None


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
