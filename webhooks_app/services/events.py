"""Events: record an event and its deliveries in the caller's transaction."""

from django.db import connections, router, transaction
from django.utils import timezone

from .. import selectors
from ..conf import app_settings
from ..events import current_context, registry
from ..exceptions import InvalidEventData
from ..models import Delivery, Event, Webhook
from ..payloads import render, to_jsonable
from . import queue


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
    registry.get(event_type)
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
        webhook_ids = selectors.webhooks_for_event(event_type=event_type, data=data, context=context)
    else:
        webhook_ids = [w.pk for w in webhooks]
    if not webhook_ids:
        return event
    using = router.db_for_write(Delivery)
    # No savepoint: inside the caller's transaction an error fails that transaction
    # anyway, and a savepoint costs two more round trips per emit. The deliveries go
    # first (foreign keys are checked at commit): when every cached webhook is gone,
    # nothing at all is written.
    with transaction.atomic(using=using, savepoint=False):
        if _deliveries_insert(
            event=event, webhook_ids=webhook_ids, any_state=webhooks is not None, using=using
        ):
            event.save(force_insert=True, using=using)
            queue.workers_wake_on_commit(using=using)
    return event


def _deliveries_insert(*, event: Event, webhook_ids: list[int], any_state: bool, using: str) -> int:
    """Insert one pending delivery of ``event`` per webhook in one statement; returns the count.

    ``INSERT ... SELECT`` from the webhook table: a webhook deleted (or, unless
    ``any_state``, disabled) since the subscriptions were cached gets no delivery,
    and never breaks the caller's transaction with a foreign-key error.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    template = Delivery(event=event, event_type=event.event_type, next_attempt_at=event.created_at)
    columns, values = [], []
    for f in Delivery._meta.concrete_fields:
        if f.primary_key or f.attname == "webhook_id":
            continue
        columns.append(quote(f.column))
        values.append(f.get_db_prep_save(f.pre_save(template, add=True), connection=connection))
    table, webhook_column = quote(Delivery._meta.db_table), quote(Delivery._meta.get_field("webhook").column)
    webhook_table, webhook_pk = quote(Webhook._meta.db_table), quote(Webhook._meta.pk.column)
    placeholders, ids = ", ".join(["%s"] * len(values)), ", ".join(["%s"] * len(webhook_ids))
    enabled = "" if any_state else f" AND w.{quote('enabled')}"
    # Only quoted identifiers of the models are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({webhook_column}, {', '.join(columns)}) SELECT w.{webhook_pk}, {placeholders} "
    )
    sql += f"FROM {webhook_table} w WHERE w.{webhook_pk} IN ({ids}){enabled}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *webhook_ids])
        return cursor.rowcount
