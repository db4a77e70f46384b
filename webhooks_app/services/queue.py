"""The queue: django-q2 tasks that wake workers, and the sweep that recovers lost ones."""

import logging

from django.utils import timezone

from .. import selectors
from ..conf import app_settings
from ..models import Delivery

logger = logging.getLogger(__name__)

TASK = "webhooks_app.tasks.delivery_run"


def deliveries_enqueue(*, delivery_ids: list[int]) -> int:
    """Put one django-q2 task per delivery on the queue; returns how many went.

    A broker that is down loses nothing: the deliveries stay pending in the
    database and the sweep enqueues them later.
    """
    from django_q.tasks import async_task

    sent = []
    options = {}
    if app_settings.Q_CLUSTER_NAME:
        options["cluster"] = app_settings.Q_CLUSTER_NAME
    # Taken before enqueueing: a fast worker (or sync mode) may run the attempt and
    # schedule its retry before the update below, and the sweep compares the retry's
    # next_attempt_at with enqueued_at to see that the retry has no task yet.
    enqueued_at = timezone.now()
    for pk in delivery_ids:
        try:
            async_task(TASK, pk, task_name=f"webhook-delivery-{pk}", q_options=dict(options))
        except Exception:  # noqa: BLE001 - the sweep recovers; never lose the caller's commit
            logger.exception("Could not enqueue delivery %s; the sweep will retry it", pk)
            continue
        sent.append(pk)
    if sent:
        Delivery.objects.filter(pk__in=sent, status=Delivery.Status.PENDING).update(enqueued_at=enqueued_at)
    return len(sent)


def deliveries_sweep() -> int:
    """Enqueue due deliveries that have no live task (lost, crashed or retrying).

    A task that has waited longer than REQUEUE_AFTER is taken as lost only while the
    broker's queue is shorter than SWEEP_BATCH: in a backlog it is most likely still
    queued, and enqueueing it again every sweep would flood the queue with duplicates
    (each delivery once per REQUEUE_AFTER) and slow the backlog down.
    """
    ids = selectors.deliveries_needing_task(stale=_queue_size() < app_settings.SWEEP_BATCH)
    return deliveries_enqueue(delivery_ids=ids) if ids else 0


def _queue_size() -> int:
    """Tasks waiting in the broker (0 when it cannot tell: then nothing is held back)."""
    from django_q.brokers import get_broker

    try:
        return int(get_broker(app_settings.Q_CLUSTER_NAME).queue_size() or 0)
    except Exception:  # noqa: BLE001 - a broker that is down must not stop the sweep
        logger.warning("Could not read the queue size; the sweep requeues stale tasks", exc_info=True)
        return 0
