"""Retention: the purge of old events, deliveries and attempts."""

import logging
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from ..conf import app_settings
from ..models import Attempt, Delivery, Event, PurgedDeliveryCount

logger = logging.getLogger(__name__)


PURGE_TASK = "webhooks_app.tasks.retention_purge"


def retention_purge_slice() -> dict:
    """One run of the periodic purge, kept well inside the django-q2 task timeout.

    It stops after half the timeout (at most 60 s) and enqueues the next run until
    everything old is gone: a big backlog is not killed by the timeout day after day.
    """
    from django.conf import settings
    from django_q.tasks import async_task

    timeout = (getattr(settings, "Q_CLUSTER", None) or {}).get("timeout")
    counts = retention_purge(max_seconds=min(60.0, timeout / 2) if timeout else 60.0)
    if not counts["finished"]:
        options = {"cluster": app_settings.Q_CLUSTER_NAME} if app_settings.Q_CLUSTER_NAME else {}
        try:
            async_task(PURGE_TASK, task_name="webhooks-purge-continued", q_options=options)
        except Exception:
            logger.exception("Could not enqueue the rest of the purge; the next scheduled run continues")
    return counts


# Days a type is kept when RETENTION_DAYS is a mapping that no key of matches.
RETENTION_FALLBACK_DAYS = 30


def retention_expired(*, days: int | dict | None = None, now=None) -> Q:
    """Rows (events or deliveries: both have ``event_type`` and ``created_at``) past their retention.

    ``days`` (default WEBHOOKS["RETENTION_DAYS"]) is a number for every type or a
    mapping of event type to days: an exact name wins over ``resource.*``, which
    wins over ``*`` (RETENTION_FALLBACK_DAYS when ``*`` is left out).
    """
    days = app_settings.RETENTION_DAYS if days is None else days
    now = now or timezone.now()

    def older(n) -> Q:
        return Q(created_at__lt=now - timedelta(days=n))

    if not isinstance(days, dict):
        return older(days)
    exact = {key: n for key, n in days.items() if key != "*" and not key.endswith(".*")}
    resources = {key[:-1]: n for key, n in days.items() if key.endswith(".*")}  # "contact." -> days
    expired = Q()
    for name, n in exact.items():
        expired |= Q(event_type=name) & older(n)
    not_exact = ~Q(event_type__in=list(exact))
    for prefix, n in resources.items():
        expired |= not_exact & Q(event_type__startswith=prefix) & older(n)
    other = not_exact
    for prefix in resources:
        other &= ~Q(event_type__startswith=prefix)
    return expired | (other & older(days.get("*", RETENTION_FALLBACK_DAYS)))


def retention_purge(
    *, days: int | dict | None = None, batch_size: int = 2000, progress=None, max_seconds: float | None = None
) -> dict:
    """Delete attempts, deliveries and events older than the retention, in batches.

    Finished deliveries are taken ``batch_size`` at a time in primary-key order (a
    keyset: what is gone is never scanned again) and deleted in one short
    transaction with their attempts and with their events once those have no
    delivery left. A last pass removes other old events without deliveries.
    Writers are never locked out for long; pending deliveries are kept whatever
    their age. ``progress(name, count)`` is called after each batch. With
    ``max_seconds`` the purge stops after the batch that passes it; ``finished`` in
    the result says whether everything old is gone.
    """
    expired = retention_expired(days=days)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    counts = {"attempts": 0, "deliveries": 0, "events": 0, "finished": False}
    old = Delivery.objects.filter(expired).exclude(status=Delivery.Status.PENDING)
    orphans = Event.objects.filter(expired).exclude(Exists(Delivery.objects.filter(event_id=OuterRef("pk"))))

    def delete_deliveries(rows) -> dict:
        pks = [pk for pk, _ in rows]
        # The range lets the database use the delivery_id index (with a long IN
        # list alone PostgreSQL scans the whole table). A finished delivery gets
        # no new attempt: all of its attempts are deleted here.
        attempts = Attempt.objects.filter(
            delivery_id__gte=pks[0], delivery_id__lte=pks[-1], delivery_id__in=pks
        )
        doomed = old.filter(pk__in=pks)
        # Counted before they go, in the same transaction (/metrics' deliveries counter).
        purged = list(doomed.values("webhook_id", "status").annotate(n=Count("pk")).order_by())
        found = {
            "attempts": attempts._raw_delete(Attempt.objects.db),
            "deliveries": doomed._raw_delete(Delivery.objects.db),
            # Checked in the DELETE itself: only the events left without deliveries.
            "events": orphans.filter(pk__in={event_id for _, event_id in rows})._raw_delete(Event.objects.db),
        }
        _purged_count(purged)
        return found

    def delete_events(event_ids) -> dict:
        return {"events": orphans.filter(pk__in=event_ids)._raw_delete(Event.objects.db)}

    def run(delete, rows) -> None:
        """One batch in its own transaction, tried again if it raced a redelivery."""
        for tries in range(4):
            try:
                with transaction.atomic():
                    found = delete(rows)
            except IntegrityError:
                # A redelivery gave one of these old events a new delivery after
                # the DELETE checked it: the batch was rolled back; once more.
                if tries == 3:
                    raise
                continue
            for name, count in found.items():
                counts[name] += count
            return

    def report(name) -> bool:
        if progress:
            progress(name, counts[name])
        return deadline is not None and time.monotonic() >= deadline

    last_pk = 0
    while rows := list(old.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "event_id")[:batch_size]):
        run(delete_deliveries, rows)
        last_pk = rows[-1][0]
        if report("deliveries"):
            return counts
    # Old events whose deliveries went another way (a deleted webhook).
    while event_ids := list(orphans.order_by().values_list("pk", flat=True)[:batch_size]):
        run(delete_events, event_ids)
        if report("events"):
            return counts
    counts["finished"] = True
    return counts


def _purged_count(groups) -> None:
    """Add deleted finished deliveries to PurgedDeliveryCount (one row per webhook and outcome).

    A webhook deleted meanwhile fails the row's foreign key: the batch's transaction
    is rolled back and tried again (retention_purge's run()).
    """
    if not groups:
        return
    PurgedDeliveryCount.objects.bulk_create(
        [PurgedDeliveryCount(webhook_id=g["webhook_id"], status=g["status"]) for g in groups],
        ignore_conflicts=True,
    )
    for group in groups:
        PurgedDeliveryCount.objects.filter(webhook_id=group["webhook_id"], status=group["status"]).update(
            count=F("count") + group["n"]
        )
