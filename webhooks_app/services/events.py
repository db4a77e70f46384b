"""Events: record an event and its deliveries in the caller's transaction."""

import logging

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from .. import selectors
from ..conf import app_settings
from ..events import TEST_EVENT, current_context, registry
from ..exceptions import InvalidEventData, ReservedEventType
from ..models import Delivery, Event, Webhook
from ..payloads import render, to_jsonable
from ..validators import validate_recipient_url
from . import queue

logger = logging.getLogger(__name__)

TEST_EVENT_RESERVED = (
    f'"{TEST_EVENT}" is sent only by a webhook\'s test action (Send test event, '
    "POST /api/webhooks/{id}/test/), to that webhook alone; it cannot be emitted."
)


def event_emit(
    *,
    event_type: str,
    data: dict | None = None,
    context: dict | None = None,
    webhooks: list[Webhook] | None = None,
) -> Event:
    """Record an event and one delivery per matching webhook, and wake a worker.

    Raises UnknownEventType for an undeclared type, ReservedEventType for
    ``webhook.test`` (only the test action sends it, with ``webhooks``: emitted, it
    would reach every ``*`` webhook) and InvalidEventData for data that cannot be
    serialized or is too large, before anything is written. When no webhook
    matches, nothing is written and an unsaved Event is returned.

    The cost does not grow with the number of webhooks: the subscriptions come from
    this process' cache (selectors.subscriptions), then one Event insert, one insert
    of every delivery and one task to wake a worker, in the caller's transaction.
    ``webhooks`` (a test event) sends to exactly those, enabled or not.
    """
    if event_type == TEST_EVENT and webhooks is None:
        raise ReservedEventType(TEST_EVENT_RESERVED)
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
    if by_url and not by_recipient and _one_statement(using):
        # PostgreSQL with the ORM broker: deliveries, event and wake-up task in one
        # statement, atomic on its own (in autocommit no BEGIN/COMMIT is needed).
        _emit_in_one_statement(event=event, webhook_ids=by_url, any_state=any_state, using=using)
        return event
    with transaction.atomic(using=using, savepoint=False):
        created = 0
        if by_url:
            insert = _deliveries_insert(event=event, webhook_ids=by_url, any_state=any_state, using=using)
            created += _run(*insert, using=using)
        if by_recipient:
            url, reason = recipient_url(event)
            insert = _deliveries_insert(
                event=event,
                webhook_ids=by_recipient,
                any_state=any_state,
                using=using,
                url=url,
                skipped=reason,
            )
            created += _run(*insert, using=using)
        if created:
            event.save(force_insert=True, using=using)
            queue.workers_wake_on_commit(using=using)
    return event


def recipient_url(event: Event) -> tuple[str, str]:
    """(URL, "") of the event's recipient, or ("", why there is none) for a skipped delivery.

    The URL comes from WEBHOOKS["RECIPIENT_URL"] and passes the same validation as a
    webhook's URL, its length included (the SSRF guard applies again when it is sent);
    whatever the callable returns or raises, the host's save that emitted goes on.
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
        validate_recipient_url(url)
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
    """The statement inserting one pending delivery of ``event`` per webhook, and its parameters.

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
    return sql, [*values, *webhook_ids]


def _run(sql: str, params: list, *, using: str = DEFAULT_DB_ALIAS) -> int:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _one_statement(using: str) -> bool:
    return connections[using].vendor == "postgresql" and queue.orm_broker_on(using)


def _emit_in_one_statement(*, event: Event, webhook_ids: list[int], any_state: bool, using: str) -> None:
    """Deliveries, the event and the wake-up task row in one PostgreSQL statement.

    Data-modifying CTEs: the event and the task are written only when at least one
    delivery was (a webhook deleted since it was cached gets none). The task is the
    package django-q2's async_task builds (queue.wake_package), stored as its ORM
    broker would store it.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    deliveries_sql, deliveries_params = _deliveries_insert(
        event=event, webhook_ids=webhook_ids, any_state=any_state, using=using
    )
    event_sql, event_params = _row_values(event, using=using)
    key, package = queue.wake_package()
    from django_q.models import OrmQ

    ormq = OrmQ(key=key, payload=package, lock=timezone.now())
    task_sql, task_params = _row_values(ormq, using=using)
    event_table, task_table = quote(Event._meta.db_table), quote(OrmQ._meta.db_table)
    written = "WHERE EXISTS (SELECT 1 FROM d)"
    # Only quoted identifiers and generated SQL are formatted in; values are parameters.
    sql = (
        f"WITH d AS ({deliveries_sql} RETURNING 1), e AS (INSERT INTO {event_table} {event_sql} {written}), "
    )
    sql += f"q AS (INSERT INTO {task_table} {task_sql} {written}) SELECT count(*) FROM d"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*deliveries_params, *event_params, *task_params])
        deliveries_written = cursor.fetchone()[0]
    if deliveries_written:
        event._state.adding, event._state.db = False, using  # saved, as event.save() would mark it


def _row_values(instance, *, using: str) -> tuple[str, list]:
    """``(columns) SELECT %s, ...`` and its parameters for inserting ``instance``."""
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [f for f in instance._meta.concrete_fields if not getattr(f, "db_returning", False)]
    columns = ", ".join(quote(f.column) for f in fields)
    params = [f.get_db_prep_save(f.pre_save(instance, add=True), connection=connection) for f in fields]
    return f"({columns}) SELECT {', '.join(['%s'] * len(fields))}", params
