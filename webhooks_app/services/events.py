"""Events: record an event and its deliveries in the caller's transaction."""

import logging

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from .. import selectors
from ..conf import app_settings
from ..events import current_context, registry
from ..exceptions import InvalidEventData
from ..models import Delivery, Event, Webhook
from ..payloads import render, to_jsonable
from ..validators import validate_webhook_url
from . import queue

logger = logging.getLogger(__name__)


def event_emit(
    *,
    event_type: str,
    data: dict | None = None,
    context: dict | None = None,
    webhooks: list[Webhook] | None = None,
) -> Event:
    """Record an event and one delivery per matching webhook, and wake a worker.

    Raises UnknownEventType for an undeclared type and InvalidEventData for data
    that cannot be serialized or is too large, before anything is written. When no
    webhook matches, nothing is written and an unsaved Event is returned.

    The cost does not grow with the number of webhooks: the subscriptions come from
    this process' cache (selectors.subscriptions), then one Event insert, one insert
    of every delivery and one task to wake a worker, in the caller's transaction.
    ``webhooks`` (a test event) sends to exactly those, enabled or not.
    """
    if not registry.get(event_type).deliverable:
        # A system event (declared deliverable=False) is accepted and never sent:
        # nothing is written, an unsaved Event is returned.
        return Event(event_type=event_type, data=data or {}, context=context or {}, created_at=timezone.now())
    data = to_jsonable({} if data is None else data)
    context = to_jsonable({**current_context(), **(context or {})}, what="event context")
    event = Event(event_type=event_type, data=data, context=context, created_at=timezone.now())
    size = len(render(event, "json")[1].encode())
    if size > app_settings.MAX_PAYLOAD_BYTES:
        raise InvalidEventData(
            f"The payload is {size} bytes; WEBHOOKS['MAX_PAYLOAD_BYTES'] allows "
            f"{app_settings.MAX_PAYLOAD_BYTES}."
        )
    if webhooks is None:
        webhooks = selectors.webhooks_for_event(event_type=event_type, data=data, context=context)
        any_state = False
    else:
        any_state = True  # a test event: exactly these, enabled or not
    if not webhooks:
        return event
    by_url = [w.pk for w in webhooks if w.destination != Webhook.Destination.RECIPIENT]
    by_recipient = [w.pk for w in webhooks if w.destination == Webhook.Destination.RECIPIENT]
    using = router.db_for_write(Delivery)
    # No savepoint: inside the caller's transaction an error fails that transaction
    # anyway, and a savepoint costs two more round trips per emit. The deliveries go
    # first (foreign keys are checked at commit): when every cached webhook is gone,
    # nothing at all is written.
    with transaction.atomic(using=using, savepoint=False):
        created = 0
        if by_url:
            created += _deliveries_insert(event=event, webhook_ids=by_url, any_state=any_state, using=using)
        if by_recipient:
            url, reason = recipient_url(event)
            created += _deliveries_insert(
                event=event,
                webhook_ids=by_recipient,
                any_state=any_state,
                using=using,
                url=url,
                skipped=reason,
            )
        if created:
            event.save(force_insert=True, using=using)
            queue.workers_wake_on_commit(using=using)
    return event


def recipient_url(event: Event) -> tuple[str, str]:
    """(URL, "") of the event's recipient, or ("", why there is none) for a skipped delivery.

    The URL comes from WEBHOOKS["RECIPIENT_URL"] and passes the same validation as a
    webhook's URL (the SSRF guard applies again when it is sent).
    """
    path = app_settings.RECIPIENT_URL
    if not path:
        return "", "WEBHOOKS['RECIPIENT_URL'] is not set, so there is no recipient URL to send to."
    try:
        url = import_string(path)(event)
    except Exception as exc:
        logger.exception("WEBHOOKS['RECIPIENT_URL'] failed for event %s", event.pk)
        return "", f"WEBHOOKS['RECIPIENT_URL'] failed: {type(exc).__name__}: {exc}"[:500]
    if not url:
        return "", "The event has no recipient URL."
    try:
        URLValidator(schemes=["http", "https"])(url)
        validate_webhook_url(url)
    except ValidationError as exc:
        return "", f"The recipient URL {str(url)[:200]!r} is not valid: {' '.join(exc.messages)}"[:500]
    return str(url), ""


def _deliveries_insert(
    *,
    event: Event,
    webhook_ids: list[int],
    any_state: bool,
    using: str,
    url: str | None = None,
    skipped: str = "",
) -> int:
    """Insert one pending delivery of ``event`` per webhook in one statement; returns the count.

    ``INSERT ... SELECT`` from the webhook table: a webhook deleted (or, unless
    ``any_state``, disabled) since the subscriptions were cached gets no delivery,
    and never breaks the caller's transaction with a foreign-key error. The delivery's
    URL is the webhook's, or ``url`` (a recipient's); with ``skipped`` (the reason)
    the deliveries are recorded as skipped.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    template = Delivery(event=event, event_type=event.event_type, next_attempt_at=event.created_at)
    if skipped:
        template.status, template.last_error = Delivery.Status.SKIPPED, skipped
        template.next_attempt_at, template.completed_at = None, event.created_at
    columns, expressions, values = [], [], []
    for f in Delivery._meta.concrete_fields:
        if f.primary_key or f.attname == "webhook_id":
            continue
        columns.append(quote(f.column))
        if f.attname == "url" and url is None:
            expressions.append(f"w.{quote('url')}")
            continue
        expressions.append("%s")
        value = url if f.attname == "url" else f.pre_save(template, add=True)
        values.append(f.get_db_prep_save(value, connection=connection))
    table, webhook_column = quote(Delivery._meta.db_table), quote(Delivery._meta.get_field("webhook").column)
    webhook_table, webhook_pk = quote(Webhook._meta.db_table), quote(Webhook._meta.pk.column)
    ids = ", ".join(["%s"] * len(webhook_ids))
    enabled = "" if any_state else f" AND w.{quote('enabled')}"
    # Only quoted identifiers of the models are formatted in; every value is a parameter.
    sql = f"INSERT INTO {table} ({webhook_column}, {', '.join(columns)}) SELECT w.{webhook_pk}, "
    sql += f"{', '.join(expressions)} FROM {webhook_table} w WHERE w.{webhook_pk} IN ({ids}){enabled}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *webhook_ids])
        return cursor.rowcount
