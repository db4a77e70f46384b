"""Deliveries: claiming, attempting, recording, retrying, finishing and redelivering."""

import email.utils
import logging
import random
import time
from datetime import UTC, timedelta
from functools import partial

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from .. import signing, transport
from ..conf import app_settings
from ..events import TEST_EVENT
from ..exceptions import IllegalTransition
from ..models import Attempt, Delivery, Event, Webhook
from ..payloads import render
from ..signals import delivery_failed
from . import queue
from .webhooks import _webhook_failure_count, webhook_disable

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"


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
        transaction.on_commit(partial(queue.deliveries_enqueue, delivery_ids=[new.pk]))
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
            transaction.on_commit(partial(queue.deliveries_enqueue, delivery_ids=[d.pk for d in created]))
        done += len(batch)
        if progress:
            progress(done, len(ids))
    return done
