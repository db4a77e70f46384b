"""Writes: emitting events, attempting deliveries, managing webhooks.

Every state change of the app goes through here; views, serializers, tasks,
receivers and admin actions call these functions and nothing else.
"""

import email.utils
import logging
import random
import time
from datetime import UTC, timedelta
from functools import partial

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import selectors, signing, transport
from .conf import app_settings
from .events import TEST_EVENT, current_context, registry
from .exceptions import IllegalTransition, InvalidEventData
from .models import Attempt, Delivery, Event, Webhook
from .payloads import render, to_jsonable
from .signals import delivery_failed, webhook_disabled

logger = logging.getLogger(__name__)

TASK = "webhooks_app.tasks.delivery_run"
REDACTED = "[redacted]"
SECRET_OVERLAP = timedelta(hours=24)


# Events ---------------------------------------------------------------------


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
        transaction.on_commit(partial(deliveries_enqueue, delivery_ids=ids))
    return event


# Queue ----------------------------------------------------------------------


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


# Delivery attempts -------------------------------------------------------------


def _lease_seconds(webhook: Webhook) -> float:
    return _timeout(webhook) + app_settings.LEASE_MARGIN


def _timeout(webhook: Webhook) -> float:
    return float(webhook.timeout or app_settings.TIMEOUT)


def delivery_claim(*, delivery_id: int, lease_seconds: float) -> bool:
    """Take a due pending delivery for one attempt (a conditional UPDATE).

    The attempt is counted here, before anything is sent.
    """
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_until=now + timedelta(seconds=lease_seconds),
            attempt_count=F("attempt_count") + 1,
            updated_at=now,
        )
    )


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Run the due attempt of a delivery, and short retries in place.

    Returns the delivery as it ended, or None when there was nothing to do (already
    finished, not due, or held by another worker): a duplicate task is harmless.
    """
    while True:
        row = (
            Delivery.objects.select_related("webhook")
            .only("pk", "status", "webhook__timeout")
            .filter(pk=delivery_id)
            .first()
        )
        if row is None or row.status != Delivery.Status.PENDING:
            return None
        if not delivery_claim(delivery_id=delivery_id, lease_seconds=_lease_seconds(row.webhook)):
            return None
        try:
            delivery = Delivery.objects.select_related("webhook", "event").get(pk=delivery_id)
            # A test event is the one thing sent to a disabled webhook: it is how an
            # admin checks a receiver before enabling it (webhook_send_test).
            if not delivery.webhook.enabled and delivery.event_type != TEST_EVENT:
                delivery_finish(
                    delivery=delivery,
                    status=Delivery.Status.CANCELLED,
                    error="The webhook is disabled.",
                    uncount=True,
                )
                return delivery
            _attempt_send(delivery)
        except Exception as exc:
            return _delivery_unattemptable(delivery_id=delivery_id, exc=exc)
        wait = _inline_wait(delivery)
        if wait is None:
            return delivery
        time.sleep(wait)


def _delivery_unattemptable(*, delivery_id: int, exc: Exception) -> Delivery | None:
    """Follow the retry schedule for a delivery that could not even be tried.

    For example a webhook secret that cannot be decrypted after a key was lost:
    without this the lease would expire and the sweep would retry it forever.
    """
    logger.exception("Delivery %s could not be attempted", delivery_id)
    delivery = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).first()
    if delivery is None:
        return None
    delivery.last_error = f"The delivery could not be attempted: {type(exc).__name__}: {exc}"[:500]
    if delivery.attempt_count > len(app_settings.RETRY_SCHEDULE):
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        return delivery
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(number=delivery.attempt_count))
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        next_attempt_at=delivery.next_attempt_at,
        lease_until=None,
        last_error=delivery.last_error,
        updated_at=timezone.now(),
    )
    return delivery


def _inline_wait(delivery: Delivery) -> float | None:
    if delivery.status != Delivery.Status.PENDING or delivery.next_attempt_at is None:
        return None
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    return max(wait, 0.0) if wait <= app_settings.INLINE_RETRY_MAX_DELAY else None


def delivery_request(*, delivery: Delivery, number: int, timestamp: int | None = None) -> dict:
    """The URL, headers and body of attempt ``number`` of a delivery."""
    webhook, event = delivery.webhook, delivery.event
    content_type, body = render(event, webhook.payload_format)
    timestamp = int(time.time()) if timestamp is None else timestamp
    keys = [webhook.secret]
    if webhook.previous_secret and (webhook.previous_secret_expires_at or timezone.now()) > timezone.now():
        keys.append(webhook.previous_secret)
    headers = {
        "Content-Type": content_type,
        # Also set by transport; here so that the Attempt log shows every header sent.
        "User-Agent": transport.USER_AGENT,
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.standard_signature(
            secrets_=keys, msg_id=event.id, timestamp=timestamp, body=body
        ),
        "X-Webhook-Signature": signing.body_signature(secret=webhook.secret, body=body.encode()),
        "X-Webhook-Event": event.event_type,
        "X-Webhook-Attempt": str(number),
    }
    if webhook.api_key:
        headers[webhook.api_key_header or "X-API-Key"] = webhook.api_key
    return {"url": webhook.url, "headers": headers, "body": body}


def headers_redact(headers: dict, *, webhook: Webhook) -> dict:
    """Headers as stored on an Attempt: the API key masked, signatures removed."""
    secret_names = {"webhook-signature", "x-webhook-signature"}
    key_name = (webhook.api_key_header or "X-API-Key").lower()
    redacted = {}
    for name, value in headers.items():
        if name.lower() in secret_names:
            redacted[name] = REDACTED
        elif name.lower() == key_name and webhook.api_key:
            redacted[name] = signing.mask(value)
        else:
            redacted[name] = value
    return redacted


def _attempt_send(delivery: Delivery) -> None:
    number = delivery.attempt_count
    request = delivery_request(delivery=delivery, number=number)
    result = None
    try:
        result = transport.post(
            request["url"],
            body=request["body"].encode(),
            headers=request["headers"],
            timeout=_timeout(delivery.webhook),
            max_bytes=app_settings.MAX_RESPONSE_BYTES,
        )
    finally:
        # Also reached when django-q2 stops the task (TimeoutException is a
        # SystemExit, not an Exception): the attempt is recorded either way.
        if result is None:
            result = transport.Result(
                error_class=Attempt.ErrorClass.INTERRUPTED,
                error_message="The worker stopped during the request (task timeout or shutdown).",
            )
        attempt_record(delivery=delivery, number=number, request=request, result=result)


def attempt_record(*, delivery: Delivery, number: int, request: dict, result) -> Attempt:
    """Store an Attempt and move the delivery to its next state."""
    webhook = delivery.webhook
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=number,
        request_url=request["url"],
        request_headers=headers_redact(request["headers"], webhook=webhook),
        request_body=request["body"],
        response_status=result.status,
        response_headers=result.headers,
        response_body=result.body,
        response_truncated=result.truncated,
        duration_ms=result.duration_ms,
        error_class=result.error_class,
        error_message=result.error_message,
    )
    delivery.last_response_status = result.status
    delivery.last_error = result.error_message[:500]
    delivery.last_duration_ms = result.duration_ms
    if result.ok:
        delivery_finish(delivery=delivery, status=Delivery.Status.SUCCEEDED)
        Webhook.objects.filter(pk=webhook.pk, consecutive_failures__gt=0).update(
            consecutive_failures=0, failing_since=None
        )
    elif result.status == 410 and app_settings.DISABLE_ON_GONE:
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        webhook_disable(
            webhook=webhook,
            reason=f"The receiver answered 410 Gone on {timezone.now():%Y-%m-%d %H:%M} UTC.",
        )
    elif number > len(app_settings.RETRY_SCHEDULE):
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        _webhook_failure_count(webhook)
    else:
        delay = retry_delay(number=number, result=result)
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.lease_until = None
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
            next_attempt_at=delivery.next_attempt_at,
            lease_until=None,
            last_response_status=delivery.last_response_status,
            last_error=delivery.last_error,
            last_duration_ms=delivery.last_duration_ms,
            updated_at=timezone.now(),
        )
    return attempt


def retry_delay(*, number: int, result=None) -> float:
    """Seconds before the retry that follows attempt ``number`` (1-based).

    The schedule's delay with jitter; at least a receiver's Retry-After on 429/503.
    """
    schedule = app_settings.RETRY_SCHEDULE
    base = float(schedule[min(number, len(schedule)) - 1])
    jitter = float(app_settings.RETRY_JITTER or 0)
    delay = base * random.uniform(1 - jitter, 1 + jitter) if jitter else base
    if result is not None and result.status in (429, 503):
        retry_after = retry_after_seconds(result.headers.get("Retry-After"))
        if retry_after is not None:
            delay = max(delay, min(retry_after, float(app_settings.MAX_RETRY_AFTER)))
    return delay


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - timezone.now()).total_seconds(), 0.0)


ALLOWED_TRANSITIONS = {
    Delivery.Status.PENDING: {
        Delivery.Status.SUCCEEDED,
        Delivery.Status.FAILED,
        Delivery.Status.CANCELLED,
    },
}


def delivery_finish(*, delivery: Delivery, status: str, error: str = "", uncount: bool = False) -> None:
    """Move a pending delivery to a final status; refuses any other transition."""
    if status not in ALLOWED_TRANSITIONS.get(delivery.status, set()):
        raise IllegalTransition(f"A {delivery.status} delivery cannot become {status}.")
    now = timezone.now()
    fields = {
        "status": status,
        "completed_at": now,
        "next_attempt_at": None,
        "lease_until": None,
        "updated_at": now,
        "last_response_status": delivery.last_response_status,
        "last_error": (error or delivery.last_error)[:500],
        "last_duration_ms": delivery.last_duration_ms,
    }
    if uncount:
        fields["attempt_count"] = F("attempt_count") - 1
    changed = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(**fields)
    if changed:
        delivery.status = status
        delivery.completed_at = now
        delivery.next_attempt_at = None
        delivery.lease_until = None
        delivery.last_error = fields["last_error"]
        if uncount:
            delivery.attempt_count -= 1
        if status == Delivery.Status.FAILED:
            delivery_failed.send(sender=Delivery, delivery=delivery)


def delivery_cancel(*, delivery: Delivery) -> Delivery:
    delivery_finish(delivery=delivery, status=Delivery.Status.CANCELLED, error="Cancelled by a user.")
    return delivery


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """A new delivery of the same event to the same webhook (same webhook-id)."""
    with transaction.atomic():
        _events_hold([delivery.event_id])
        new = Delivery.objects.create(
            webhook=delivery.webhook,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(partial(deliveries_enqueue, delivery_ids=[new.pk]))
    return new


def _events_hold(event_ids) -> None:
    """Lock events until the transaction ends, so a concurrent purge cannot delete them.

    A purge that already selected one of them waits, then fails on the foreign key
    and tries its batch again (retention_purge): the redelivery wins.
    """
    list(Event.objects.select_for_update(no_key=True).filter(pk__in=event_ids).values_list("pk", flat=True))


def deliveries_redeliver_failed(*, webhook: Webhook, since, batch_size: int = 500, progress=None) -> int:
    """Redeliver every failed delivery of a webhook created since a time, in batches.

    Each event whose delivery failed gets one new delivery, unless it already has a
    pending or succeeded one (a recovery run twice, or an event that failed again
    after a redelivery, is not sent twice). ``progress(done, total)`` is called after
    each batch. Returns how many were redelivered.
    """
    settled = Delivery.objects.filter(
        webhook=webhook,
        event_id=OuterRef("event_id"),
        status__in=[Delivery.Status.PENDING, Delivery.Status.SUCCEEDED],
    )
    rows = (
        Delivery.objects.filter(webhook=webhook, status=Delivery.Status.FAILED, created_at__gte=since)
        .exclude(Exists(settled))
        .order_by("created_at", "id")
        .values_list("pk", "event_id", "event_type")
    )
    first_failure = {}
    for pk, event_id, event_type in rows:
        first_failure.setdefault(event_id, (pk, event_id, event_type))
    ids = list(first_failure.values())
    done = 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        with transaction.atomic():
            _events_hold([eid for _, eid, _ in batch])
            now = timezone.now()
            created = Delivery.objects.bulk_create(
                [
                    Delivery(webhook=webhook, event_id=eid, event_type=etype, next_attempt_at=now)
                    for _, eid, etype in batch
                ]
            )
            transaction.on_commit(partial(deliveries_enqueue, delivery_ids=[d.pk for d in created]))
        done += len(batch)
        if progress:
            progress(done, len(ids))
    return done


# Webhooks -----------------------------------------------------------------------

WEBHOOK_FIELDS = (
    "name",
    "description",
    "events",
    "notification_type",
    "url",
    "api_key",
    "api_key_header",
    "enabled",
    "payload_format",
    "filters",
    "timeout",
)


def _actor(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def webhook_create(*, actor=None, **fields) -> Webhook:
    """A new webhook with a fresh signing secret. Fields are validated by the caller's form."""
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    webhook = Webhook(**fields, created_by=_actor(actor), updated_by=_actor(actor))
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_update(*, webhook: Webhook, actor=None, **fields) -> Webhook:
    """Change a webhook's fields; re-enabling clears the disabled reason and failure run."""
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    was_enabled = Webhook.objects.filter(pk=webhook.pk).values_list("enabled", flat=True).first()
    for name, value in fields.items():
        setattr(webhook, name, value)
    if webhook.enabled and not was_enabled:
        webhook.disabled_reason, webhook.disabled_at = "", None
        webhook.consecutive_failures, webhook.failing_since = 0, None
    elif not webhook.enabled and was_enabled and not webhook.disabled_at:
        webhook.disabled_at = timezone.now()
        webhook.disabled_reason = "Disabled by a user."
    webhook.updated_by = _actor(actor) or webhook.updated_by
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_set_enabled(*, webhook: Webhook, enabled: bool, actor=None) -> Webhook:
    return webhook_update(webhook=webhook, enabled=enabled, actor=actor)


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete a webhook with its deliveries and attempts (events stay for others)."""
    webhook.delete()


def webhook_secret_rotate(*, webhook: Webhook, actor=None) -> Webhook:
    """A new signing secret; the old one keeps signing for 24 h so receivers can switch."""
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
    webhook.secret = signing.secret_generate()
    webhook.updated_by = _actor(actor) or webhook.updated_by
    webhook.save(
        update_fields=[
            "secret",
            "previous_secret",
            "previous_secret_expires_at",
            "updated_by",
            "updated_at",
        ]
    )
    return webhook


def webhook_send_test(*, webhook: Webhook, actor=None) -> Delivery:
    """Emit ``webhook.test`` to this webhook only (enabled or not) and return the delivery."""
    context = {"source": "test"}
    if _actor(actor):
        context["actor"] = actor.get_username()
    data = {"webhook": {"id": webhook.pk, "name": webhook.name}, "message": "This is a test event."}
    event = event_emit(event_type=TEST_EVENT, data=data, context=context, webhooks=[webhook])
    return Delivery.objects.select_related("webhook", "event").get(event=event, webhook=webhook)


def webhook_disable(*, webhook: Webhook, reason: str) -> None:
    """Disable a webhook on the app's own decision, notify staff and send a signal."""
    changed = Webhook.objects.filter(pk=webhook.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:255], disabled_at=timezone.now()
    )
    webhook.enabled, webhook.disabled_reason = False, reason[:255]
    if not changed:
        return
    logger.warning("Webhook %s (%s) disabled: %s", webhook.pk, webhook.name, reason)
    webhook_disabled.send(sender=Webhook, webhook=webhook, reason=reason)
    recipients = list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if recipients:
        try:
            send_mail(
                subject=f"Webhook disabled: {webhook.name}",
                message=f"The webhook {webhook.name} ({webhook.url}) was disabled.\n\n{reason}\n\n"
                "Re-enable it in Settings -> Webhook Settings once the receiver works again.",
                from_email=None,
                recipient_list=recipients,
                fail_silently=True,
            )
        except Exception:  # noqa: BLE001 - a mail problem must not break delivery
            logger.exception("Could not email staff about disabled webhook %s", webhook.pk)


def _webhook_failure_count(webhook: Webhook) -> None:
    now = timezone.now()
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), now),
    )
    limit = app_settings.AUTO_DISABLE_FAILURES
    if not limit:
        return
    state = Webhook.objects.filter(pk=webhook.pk).values("consecutive_failures", "failing_since").first()
    span = timedelta(days=float(app_settings.AUTO_DISABLE_AFTER_DAYS or 0))
    if state and state["consecutive_failures"] >= limit and state["failing_since"] <= now - span:
        webhook_disable(
            webhook=webhook,
            reason=f"{state['consecutive_failures']} deliveries in a row failed since "
            f"{state['failing_since']:%Y-%m-%d %H:%M} UTC.",
        )


# Retention ---------------------------------------------------------------------


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
        except Exception:  # noqa: BLE001 - the next scheduled purge goes on from here
            logger.exception("Could not enqueue the rest of the purge; the next scheduled run continues")
    return counts


def retention_purge(
    *, days: int | None = None, batch_size: int = 2000, progress=None, max_seconds: float | None = None
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
    days = app_settings.RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    counts = {"attempts": 0, "deliveries": 0, "events": 0, "finished": False}
    old = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=Delivery.Status.PENDING)
    orphans = Event.objects.filter(created_at__lt=cutoff).exclude(
        Exists(Delivery.objects.filter(event_id=OuterRef("pk")))
    )

    def delete_deliveries(rows) -> dict:
        pks = [pk for pk, _ in rows]
        # The range lets the database use the delivery_id index (with a long IN
        # list alone PostgreSQL scans the whole table). A finished delivery gets
        # no new attempt: all of its attempts are deleted here.
        attempts = Attempt.objects.filter(
            delivery_id__gte=pks[0], delivery_id__lte=pks[-1], delivery_id__in=pks
        )
        return {
            "attempts": attempts._raw_delete(Attempt.objects.db),
            "deliveries": old.filter(pk__in=pks)._raw_delete(Delivery.objects.db),
            # Checked in the DELETE itself: only the events left without deliveries.
            "events": orphans.filter(pk__in={event_id for _, event_id in rows})._raw_delete(Event.objects.db),
        }

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
