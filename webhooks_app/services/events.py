"""Events: record an event and its deliveries in the caller's transaction."""

from functools import partial

from django.db import transaction
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
    """Record an event and one delivery per matching webhook; enqueue after commit.

    Raises UnknownEventType for an undeclared type and InvalidEventData for data
    that cannot be serialized or is too large, before anything is written. When no
    webhook matches, nothing is written and an unsaved Event is returned.
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
        webhooks = selectors.webhooks_for_event(event_type=event_type, data=data)
    if not webhooks:
        return event
    with transaction.atomic():
        event.save(force_insert=True)
        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(
                    webhook_id=w.pk,
                    event=event,
                    event_type=event_type,
                    next_attempt_at=event.created_at,
                )
                for w in webhooks
            ]
        )
        ids = [d.pk for d in deliveries]
        transaction.on_commit(partial(queue.deliveries_enqueue, delivery_ids=ids))
    return event
