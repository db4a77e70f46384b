"""Deliveries: claiming, building requests, recording attempts, retrying, finishing, redelivering.

The loop that sends claimed deliveries concurrently lives in services.drain; the
pieces here work on batches so that a batch costs a few statements, not a few per
delivery.
"""

import email.utils
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.db import connections, router, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from .. import selectors, signing, texts, transport
from ..conf import app_settings
from ..events import TEST_EVENT
from ..exceptions import DeliveryInProgress, IllegalTransition, WebhookDisabled, WebhookValidationError
from ..models import Attempt, Delivery, Event, Webhook
from ..payloads import body_cache_key, render
from ..signals import delivery_failed
from . import queue
from .webhooks import _webhook_failure_count, webhook_disable

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
# Written by one bulk UPDATE when attempts are recorded (success or a retry).
_RECORDED_FIELDS = [
    "status",
    "completed_at",
    "next_attempt_at",
    "lease_until",
    "last_response_status",
    "last_error",
    "last_error_code",
    "last_error_params",
    "last_duration_ms",
    "updated_at",
]


def _timeout(webhook: Webhook) -> float:
    return float(webhook.timeout or app_settings.TIMEOUT)


def deliveries_claim(*, limit: int, exclude_webhooks=(), only=None, slots=None, now=None) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for one attempt each, oldest due first.

    One short transaction: the rows are selected (``FOR UPDATE SKIP LOCKED`` where the
    database has it, so concurrent workers take different rows; SQLite's IMMEDIATE
    transaction serialises them), leased for their webhook's timeout plus
    LEASE_MARGIN, and their attempt is counted before anything is sent. Returns the
    deliveries with ``webhook`` and ``event`` loaded. ``only`` restricts the claim to
    those delivery ids; ``slots(destination)`` caps how many go to one destination
    (rows over a cap stay due, unclaimed, for a later claim).
    """
    return _claim(limit=limit, exclude_webhooks=exclude_webhooks, only=only, slots=slots, now=now)[0]


def _claim(
    *, limit, exclude_webhooks=(), only=None, slots=None, now=None, webhooks_cache=None
) -> tuple[list[Delivery], bool]:
    """deliveries_claim, and whether more due rows were seen than were taken.

    ``webhooks_cache`` (a WebhookCache) lets a drain reuse the webhooks it read
    less than a second ago instead of reading (and decrypting) them every batch.
    """
    if not selectors.sending.enabled():
        return [], False  # switched off site-wide: everything waits, nothing is lost
    now = now or timezone.now()
    qs = Delivery.objects.due(now=now)
    if only is not None:
        qs = qs.filter(pk__in=only)
    if exclude_webhooks:
        qs = qs.exclude(webhook_id__in=exclude_webhooks)
    qs = qs.order_by("next_attempt_at", "id")
    # With per-destination caps a few more rows are looked at than can be taken, so
    # that a busy destination at the head of the queue does not hide the others.
    scan = limit * 4 if slots else limit
    using = router.db_for_write(Delivery)
    # No savepoint: inside the drain's transaction it would cost two round trips.
    with transaction.atomic(using=using, savepoint=False):
        if connections[using].features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        fields = ("pk", "webhook_id", "event_id", "event_type", "attempt_count", "url")
        event_fields = ("event__created_at", "event__context", "event__data")
        rows = list(qs.values_list(*fields, *event_fields)[:scan])
        if not rows:
            return [], False
        ids = {row[1] for row in rows}
        webhooks = webhooks_cache.get(ids) if webhooks_cache is not None else _webhooks_load(ids)
        taken, chosen, by_lease = defaultdict(int), [], defaultdict(list)
        for row in rows:
            if len(chosen) == limit:
                break
            webhook = webhooks.get(row[1])
            readable = isinstance(webhook, Webhook)
            if slots is not None and readable:
                destination = transport.destination(row[5] or webhook.url)
                if taken[destination] >= slots(destination):
                    continue
                taken[destination] += 1
            chosen.append(row)
            timeout = _timeout(webhook) if readable else float(app_settings.TIMEOUT)
            by_lease[timeout + float(app_settings.LEASE_MARGIN)].append(row[0])
        leases = {}
        for seconds, pks in by_lease.items():
            lease_until = now + timedelta(seconds=seconds)
            Delivery.objects.filter(pk__in=pks).update(
                lease_until=lease_until, attempt_count=F("attempt_count") + 1, updated_at=now
            )
            leases.update(dict.fromkeys(pks, lease_until))
    claimed = []
    for pk, webhook_id, event_id, event_type, count, url, created_at, context, data in chosen:
        delivery = Delivery(
            pk=pk,
            webhook_id=webhook_id,
            event_id=event_id,
            event_type=event_type,
            status=Delivery.Status.PENDING,
            attempt_count=count + 1,
            url=url,
            next_attempt_at=now,
            lease_until=leases[pk],
        )
        webhook = webhooks.get(webhook_id)
        if isinstance(webhook, Webhook):
            delivery.webhook = webhook
        else:
            # Unreadable (an exception) or deleted meanwhile (None): no request.
            delivery._load_error = webhook or LookupError("The webhook no longer exists.")
        delivery.event = Event(
            id=event_id, event_type=event_type, created_at=created_at, context=context, data=data
        )
        claimed.append(delivery)
    return claimed, len(rows) > len(chosen) or len(rows) == scan


class WebhookCache:
    """Webhooks a drain read, reused for up to a second (a change reaches a running
    drain within that second; a deleted webhook's deliveries are gone with it)."""

    MAX_AGE = 1.0

    def __init__(self):
        self._rows: dict[int, tuple[float, object]] = {}

    def get(self, pks) -> dict:
        now = time.monotonic()
        stale = {pk for pk in pks if pk not in self._rows or now - self._rows[pk][0] > self.MAX_AGE}
        if stale:
            loaded = _webhooks_load(stale)
            for pk in stale:
                self._rows[pk] = (now, loaded.get(pk))
        return {pk: self._rows[pk][1] for pk in pks}


def _webhooks_load(pks) -> dict:
    """Webhooks by id; a row that cannot be read (a secret that no key decrypts) maps
    to its exception instead of failing the whole batch."""
    try:
        return Webhook.objects.in_bulk(pks)
    except Exception:  # noqa: BLE001 - one unreadable row; found below, one by one
        loaded = {}
        for pk in pks:
            try:
                loaded[pk] = Webhook.objects.filter(pk=pk).first()
            except Exception as exc:  # noqa: BLE001 - recorded on its deliveries (_delivery_unattemptable)
                loaded[pk] = exc
        return loaded


def deliveries_release(*, deliveries: list[Delivery]) -> int:
    """Give back claimed deliveries that were not sent: no lease, the attempt uncounted."""
    if not deliveries:
        return 0
    return Delivery.objects.filter(pk__in=[d.pk for d in deliveries], status=Delivery.Status.PENDING).update(
        lease_until=None, attempt_count=F("attempt_count") - 1, updated_at=timezone.now()
    )


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Claim one due delivery, send it in this thread and record the result.

    Returns the delivery as it ended, or None when there was nothing to do (already
    finished, not due, or held by another worker). Workers use services.drain; this
    is the same path for one delivery.
    """
    claimed = deliveries_claim(limit=1, only=[delivery_id])
    if not claimed:
        return None
    outcome = attempt_prepare(claimed[0])
    if outcome.request is not None:
        outcome.result = _send(outcome)
    attempts_record(outcomes=[outcome])
    return claimed[0]


@dataclass
class Outcome:
    """One claimed delivery on its way: the request to send, then what came back."""

    delivery: Delivery
    request: dict | None = None
    destination: str = ""
    result: transport.Result | None = None
    # Set when the delivery cannot be sent or tried at all.
    cancel_reason: str = ""
    cancel_code: str = ""  # cancel_reason as a code of webhooks_app.texts
    error: Exception | None = None


def attempt_prepare(delivery: Delivery, *, bodies: dict | None = None) -> Outcome:
    """The request of a claimed delivery's attempt, or why there is none.

    ``bodies`` caches rendered payloads by (event id, format) across a batch: an
    event sent to many webhooks is rendered once per format.
    """
    outcome = Outcome(delivery=delivery)
    error = getattr(delivery, "_load_error", None)
    if error is not None:
        outcome.error = error
        return outcome
    # A test event is the one thing sent to a disabled webhook: it is how an admin
    # checks a receiver before enabling it (webhook_send_test).
    if not delivery.webhook.enabled and delivery.event_type != TEST_EVENT:
        outcome.cancel_reason, outcome.cancel_code = texts.english("webhook_disabled"), "webhook_disabled"
        return outcome
    try:
        outcome.request = delivery_request(delivery=delivery, number=delivery.attempt_count, bodies=bodies)
        outcome.destination = transport.destination(outcome.request["url"])
    except Exception as exc:  # noqa: BLE001 - the delivery follows the retry schedule with this error
        outcome.error = exc
    return outcome


def _send(outcome: Outcome) -> transport.Result:
    request = outcome.request
    return transport.post(
        request["url"],
        body=request["body"].encode(),
        headers=request["headers"],
        timeout=_timeout(outcome.delivery.webhook),
        max_bytes=app_settings.MAX_RESPONSE_BYTES,
    )


INTERRUPTED = transport.Result(
    error_class=Attempt.ErrorClass.INTERRUPTED,
    error_message=texts.english("interrupted"),
    error_code="interrupted",
)


def delivery_request(
    *, delivery: Delivery, number: int, timestamp: int | None = None, bodies: dict | None = None
) -> dict:
    """The URL, headers and body of attempt ``number`` of a delivery."""
    webhook, event = delivery.webhook, delivery.event
    key = body_cache_key(event, webhook)
    if bodies is not None and key in bodies:
        content_type, body = bodies[key]
    else:
        content_type, body = render(event, webhook.payload_format, webhook=webhook)
        if bodies is not None:
            bodies[key] = content_type, body
    timestamp = int(time.time()) if timestamp is None else timestamp
    # During a rotation's overlap both secrets sign, the current one first, in both
    # signature headers: a receiver holding either secret keeps verifying.
    keys = [webhook.secret]
    if webhook.previous_secret and (webhook.previous_secret_expires_at or timezone.now()) > timezone.now():
        keys.append(webhook.previous_secret)
    url = delivery.url or webhook.url
    # The API key, the custom headers and the secret hash go only where the webhook
    # says (Webhook.sends_credentials_to); signatures go with every request.
    credentials = webhook.sends_credentials_to(url)
    # The custom headers first: the app's own names are refused there, and would win anyway.
    headers = dict(webhook.headers or {}) if credentials else {}
    headers.update(
        {
            "Content-Type": content_type,
            # Also set by transport; here so that the Attempt log shows every header sent.
            "User-Agent": transport.USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.standard_signature(
                secrets_=keys, msg_id=event.id, timestamp=timestamp, body=body
            ),
            "X-Webhook-Signature": signing.body_signatures(secrets_=keys, body=body.encode()),
            "X-Webhook-Event": (webhook.topic_prefix or "") + event.event_type,
            "X-Webhook-Attempt": str(number),
        }
    )
    if credentials and webhook.secret_hash_header:
        headers[webhook.secret_hash_header] = signing.secret_hash(webhook.secret)
    if credentials and webhook.api_key:
        headers[webhook.api_key_header or "X-API-Key"] = webhook.api_key
    return {"url": url, "headers": headers, "body": body}


def headers_redact(headers: dict, *, webhook: Webhook) -> dict:
    """Headers as stored on an Attempt: the API key, the custom headers' values and the
    secret hash masked, signatures removed."""
    secret_names = {"webhook-signature", "x-webhook-signature"}
    masked_names = {name.lower() for name in (webhook.headers or {})}
    if webhook.api_key:
        masked_names.add((webhook.api_key_header or "X-API-Key").lower())
    if webhook.secret_hash_header:
        masked_names.add(webhook.secret_hash_header.lower())
    redacted = {}
    for name, value in headers.items():
        if name.lower() in secret_names:
            redacted[name] = REDACTED
        elif name.lower() in masked_names:
            redacted[name] = signing.mask(value)
        else:
            redacted[name] = value
    return redacted


def attempt_record(*, delivery: Delivery, number: int, request: dict, result) -> Attempt | None:
    """Store one Attempt and move its delivery to its next state (see attempts_record).

    None when the delivery no longer exists (deleted with its webhook meanwhile).
    """
    delivery.attempt_count = number
    recorded = attempts_record(outcomes=[Outcome(delivery=delivery, request=request, result=result)])
    return recorded[0] if recorded else None


def attempts_record(*, outcomes: list[Outcome], release: list[Delivery] = ()) -> list[Attempt]:
    """Store the Attempts of a batch and move each delivery to its next state.

    In one transaction: the batch's deliveries are held (one SELECT; see
    _deliveries_hold), then one bulk INSERT of the attempts, one bulk UPDATE of the
    deliveries that succeeded or wait for a retry (only while still pending: a
    delivery cancelled meanwhile is left alone), the rarer transitions (failed for
    good, 410 Gone, cancelled, not attemptable) one by one with their signals, and
    ``release``, claimed deliveries given back unsent (deliveries_release).

    A delivery deleted since its claim (with its webhook, by a purge or an erasure)
    is left out: its result is dropped, the rest of the batch is recorded. Returns
    the Attempts stored.
    """
    if not outcomes and not release:
        return []
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(Delivery), savepoint=False):
        present = _deliveries_hold([o.delivery.pk for o in outcomes] + [d.pk for d in release])
        kept = [o for o in outcomes if o.delivery.pk in present]
        if len(kept) < len(outcomes):
            gone = sorted({o.delivery.pk for o in outcomes} - present)
            logger.info("Deliveries %s were deleted while in flight; their results are dropped.", gone)
        attempts = _attempts_apply(kept, now=now)
        deliveries_release(deliveries=[d for d in release if d.pk in present])
    return attempts


def _deliveries_hold(pks: list[int]) -> set[int]:
    """Which of these deliveries still exist, held until the transaction ends.

    One statement per batch. On PostgreSQL the rows are locked (FOR NO KEY UPDATE,
    in id order, as webhook_delete locks them): a delete waits for this record to
    commit and then sees its attempts, or this record waits for the delete and then
    finds the rows gone; without it an attempt of a delivery deleted meanwhile
    failed the whole batch at COMMIT (a deferred foreign key). On SQLite the record
    holds the database's write lock from its first statement (transaction_mode
    IMMEDIATE, which the check webhooks_app.W054 asks for), so what this reads stays
    true until the commit. Raw SQL: the ORM's query building cost more than the
    statement itself (about 0.25 ms a batch).
    """
    if not pks:
        return set()
    pks = sorted(set(pks))
    connection = connections[router.db_for_write(Delivery)]
    quote = connection.ops.quote_name
    table, pk = quote(Delivery._meta.db_table), quote(Delivery._meta.pk.column)
    # Only quoted identifiers of the model are formatted in; the ids are parameters.
    if connection.vendor == "postgresql":
        sql = f"SELECT {pk} FROM {table} WHERE {pk} = ANY(%s) ORDER BY {pk} FOR NO KEY UPDATE"  # noqa: S608
        params = [pks]
    else:
        lock = f" ORDER BY {pk} FOR UPDATE" if connection.features.has_select_for_update else ""
        sql = f"SELECT {pk} FROM {table} WHERE {pk} IN ({', '.join(['%s'] * len(pks))}){lock}"  # noqa: S608
        params = pks
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _attempts_apply(outcomes: list[Outcome], *, now) -> list[Attempt]:
    """attempts_record for deliveries that are held and exist."""
    attempts, updates, succeeded_webhooks = [], [], {}
    finals = []  # (outcome, kind)
    for outcome in outcomes:
        delivery, result = outcome.delivery, outcome.result
        if outcome.error is not None or outcome.cancel_reason:
            finals.append((outcome, "unattemptable" if outcome.error is not None else "cancel"))
            continue
        if result is None:
            result = outcome.result = INTERRUPTED
        webhook, number = delivery.webhook, delivery.attempt_count
        attempts.append(
            Attempt(
                delivery=delivery,
                number=number,
                request_url=outcome.request["url"],
                request_headers=headers_redact(outcome.request["headers"], webhook=webhook),
                request_body=outcome.request["body"],
                response_status=result.status,
                response_headers=result.headers,
                response_body=result.body,
                response_truncated=result.truncated,
                duration_ms=result.duration_ms,
                error_class=result.error_class,
                error_message=result.error_message,
                error_code=result.error_code,
                error_params=result.error_params,
            )
        )
        delivery.last_response_status = result.status
        delivery.last_error = result.error_message[:500]
        delivery.last_error_code, delivery.last_error_params = result.error_code, result.error_params
        delivery.last_duration_ms = result.duration_ms
        delivery.lease_until = None
        delivery.updated_at = now
        if result.ok:
            delivery.status = Delivery.Status.SUCCEEDED
            delivery.completed_at, delivery.next_attempt_at = now, None
            updates.append(delivery)
            if webhook.consecutive_failures or webhook.failing_since:
                succeeded_webhooks[webhook.pk] = webhook
        elif result.status == 410 and app_settings.DISABLE_ON_GONE:
            finals.append((outcome, "gone"))
        elif number > len(app_settings.RETRY_SCHEDULE):
            finals.append((outcome, "failed"))
        else:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(number=number, result=result))
            updates.append(delivery)
    Attempt.objects.bulk_create(attempts)
    if updates:
        _deliveries_write(updates)
    if succeeded_webhooks:
        Webhook.objects.filter(pk__in=list(succeeded_webhooks)).update(
            consecutive_failures=0, failing_since=None
        )
    for outcome, kind in finals:
        _finish(outcome, kind)
    return attempts


def _deliveries_write(updates: list[Delivery]) -> None:
    """Write the recorded fields of each delivery while it is still pending.

    One parameterised UPDATE run for every row (``executemany``): Django's
    bulk_update builds a CASE per field and row, and cost ~3 ms of Python per
    delivery in the drain's profile.
    """
    connection = connections[router.db_for_write(Delivery)]
    quote = connection.ops.quote_name
    fields = [Delivery._meta.get_field(name) for name in _RECORDED_FIELDS]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk, status = quote(Delivery._meta.db_table), quote(Delivery._meta.pk.column), quote("status")
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s AND {status} = %s"  # noqa: S608 - identifiers only
    rows = [
        [*(f.get_db_prep_save(getattr(d, f.attname), connection=connection) for f in fields), d.pk, "pending"]
        for d in updates
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _finish(outcome: Outcome, kind: str) -> None:
    delivery = outcome.delivery
    if kind == "cancel":
        delivery_finish(
            delivery=delivery,
            status=Delivery.Status.CANCELLED,
            error=outcome.cancel_reason,
            error_code=outcome.cancel_code,
            uncount=True,
        )
    elif kind == "unattemptable":
        _delivery_unattemptable(delivery=delivery, exc=outcome.error)
    elif kind == "gone":
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        when = f"{timezone.now():%Y-%m-%d %H:%M}"
        webhook_disable(
            webhook=delivery.webhook,
            reason=texts.english("gone", when=when),
            code="gone",
            params={"when": when},
        )
    else:
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        _webhook_failure_count(delivery.webhook)


def _delivery_unattemptable(*, delivery: Delivery, exc: Exception) -> None:
    """Follow the retry schedule for a delivery that could not even be tried.

    For example a webhook secret that cannot be decrypted after a key was lost:
    without this the lease would expire and the delivery would be claimed forever.
    """
    logger.error("Delivery %s could not be attempted: %s: %s", delivery.pk, type(exc).__name__, exc)
    detail = f"{type(exc).__name__}: {exc}"[:400]
    delivery.last_error = texts.english("unattemptable", detail=detail)[:500]
    delivery.last_error_code, delivery.last_error_params = "unattemptable", {"detail": detail}
    if delivery.attempt_count > len(app_settings.RETRY_SCHEDULE):
        delivery_finish(delivery=delivery, status=Delivery.Status.FAILED)
        return
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(number=delivery.attempt_count))
    delivery.lease_until = None
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
        next_attempt_at=delivery.next_attempt_at,
        lease_until=None,
        last_error=delivery.last_error,
        last_error_code=delivery.last_error_code,
        last_error_params=delivery.last_error_params,
        updated_at=timezone.now(),
    )


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
    # ASCII digits only: the header is Latin-1, and str.isdigit() takes "²" (0xB2), which float() refuses.
    if value.isascii() and value.isdigit():
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


def delivery_finish(
    *,
    delivery: Delivery,
    status: str,
    error: str = "",
    uncount: bool = False,
    error_code: str = "",
    error_params: dict | None = None,
) -> None:
    """Move a pending delivery to a final status; refuses any other transition.

    ``error`` (with its webhooks_app.texts code and parameters) replaces the last error.
    """
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
        "last_error_code": error_code if error else delivery.last_error_code,
        "last_error_params": (error_params or {}) if error else delivery.last_error_params,
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
        delivery.last_error_code, delivery.last_error_params = (
            fields["last_error_code"],
            fields["last_error_params"],
        )
        if uncount:
            delivery.attempt_count -= 1
        if status == Delivery.Status.FAILED:
            delivery_failed.send(sender=Delivery, delivery=delivery)


def delivery_cancel(*, delivery: Delivery) -> Delivery:
    delivery_finish(
        delivery=delivery,
        status=Delivery.Status.CANCELLED,
        error=texts.english("cancelled_by_user"),
        error_code="cancelled_by_user",
    )
    return delivery


REDELIVER_PENDING = "This delivery is still being attempted; redeliver it once it has finished."
WEBHOOK_IS_DISABLED = "The webhook is disabled: enable it first, or what is sent is cancelled at once."
RETRY_FINISHED = "Only a pending delivery can be retried; redeliver a finished one."
RETRY_IN_FLIGHT = "This delivery is being tried right now."


def _sending_allowed(webhook: Webhook, event_type: str | None = None) -> None:
    """Refuse to send to a disabled webhook (WebhookDisabled): the engine would cancel it.

    A test event is the exception, as in attempt_prepare: it is how a receiver is
    checked before the webhook is enabled.
    """
    if not webhook.enabled and event_type != TEST_EVENT:
        raise WebhookDisabled(WEBHOOK_IS_DISABLED)


def delivery_retry_now(*, delivery: Delivery) -> Delivery:
    """Make a pending delivery's next try due now and wake a worker ("Retry now").

    Refused for a finished delivery (IllegalTransition: redeliver it instead), one a
    worker holds right now (DeliveryInProgress), and on a disabled webhook
    (WebhookDisabled). The attempt count and the schedule after this try are unchanged.
    """
    _sending_allowed(Webhook.objects.get(pk=delivery.webhook_id), delivery.event_type)
    now = timezone.now()
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery.pk)
            .values("status", "lease_until")
            .first()
        )
        if row is None or row["status"] != Delivery.Status.PENDING:
            raise IllegalTransition(RETRY_FINISHED)
        if row["lease_until"] is not None and row["lease_until"] > now:
            raise DeliveryInProgress(RETRY_IN_FLIGHT)
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
            next_attempt_at=now, updated_at=now
        )
        queue.workers_wake_on_commit(using=router.db_for_write(Delivery))
    delivery.next_attempt_at = now
    return delivery


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """A new delivery of the same event to the same webhook (same webhook-id).

    Only a finished delivery can be redelivered: a pending one is still being
    tried (DeliveryInProgress). Its status is read from the row, not from the
    possibly stale object passed in. Refused on a disabled webhook (WebhookDisabled),
    where the new delivery would be cancelled at once.
    """
    # The webhook as it is now (the object passed in may hold an old URL or state).
    webhook = Webhook.objects.get(pk=delivery.webhook_id)
    _sending_allowed(webhook, delivery.event_type)
    with transaction.atomic():
        status = Delivery.objects.filter(pk=delivery.pk).values_list("status", flat=True).first()
        if status == Delivery.Status.PENDING:
            raise DeliveryInProgress(REDELIVER_PENDING)
        _events_hold([delivery.event_id])
        new = Delivery.objects.create(
            webhook=webhook,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            url=redelivery_url(delivery=delivery, webhook=webhook),
            redelivery_of=delivery,
            next_attempt_at=timezone.now(),
        )
        queue.workers_wake_on_commit(using=router.db_for_write(Delivery))
    return new


def redelivery_url(*, delivery: Delivery, webhook: Webhook) -> str:
    """Where a redelivery goes: the webhook's URL as it is now (a receiver fixed by moving it
    gets what it missed), or the recipient's URL the first delivery went to."""
    if webhook.destination == Webhook.Destination.RECIPIENT:
        return delivery.url
    return webhook.url


def _events_hold(event_ids) -> None:
    """Lock events until the transaction ends, so a concurrent purge cannot delete them.

    A purge that already selected one of them waits, then fails on the foreign key
    and tries its batch again (retention_purge): the redelivery wins.
    """
    list(Event.objects.select_for_update(no_key=True).filter(pk__in=event_ids).values_list("pk", flat=True))


def deliveries_redeliver_failed(
    *, webhook: Webhook, since, batch_size: int = 500, progress=None, dry_run: bool = False
) -> int:
    """Redeliver every failed delivery of a webhook created since a time, in batches.

    Each event whose delivery failed gets one new delivery, unless it already has a
    pending or succeeded one (a recovery run twice, or an event that failed again
    after a redelivery, is not sent twice). ``progress(done, total)`` is called after
    each batch. Returns how many were redelivered; with ``dry_run`` how many would
    be, writing nothing (the console's confirmation says it). ``since`` must be in the
    past (WebhookValidationError on the field ``since``); a disabled webhook is
    refused (WebhookDisabled), as its redeliveries would be cancelled at once.
    """
    if since > timezone.now():
        raise WebhookValidationError("Choose a moment in the past.", field="since", code="future")
    if not dry_run:
        _sending_allowed(webhook)
    settled = Delivery.objects.filter(
        webhook=webhook,
        event_id=OuterRef("event_id"),
        status__in=[Delivery.Status.PENDING, Delivery.Status.SUCCEEDED],
    )
    rows = (
        Delivery.objects.filter(webhook=webhook, status=Delivery.Status.FAILED, created_at__gte=since)
        .exclude(Exists(settled))
        .order_by("created_at", "id")
        .values_list("pk", "event_id", "event_type", "url")
    )
    first_failure = {}
    for pk, event_id, event_type, url in rows:
        first_failure.setdefault(event_id, (pk, event_id, event_type, url))
    ids = list(first_failure.values())
    if dry_run:
        return len(ids)
    done = 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        with transaction.atomic():
            _events_hold([eid for _, eid, _, _ in batch])
            now = timezone.now()
            Delivery.objects.bulk_create(
                [
                    Delivery(
                        webhook=webhook,
                        event_id=eid,
                        event_type=etype,
                        url=redelivery_url(delivery=Delivery(url=url), webhook=webhook),
                        redelivery_of_id=pk,
                        next_attempt_at=now,
                    )
                    for pk, eid, etype, url in batch
                ]
            )
            queue.workers_wake_on_commit(using=router.db_for_write(Delivery))
        done += len(batch)
        if progress:
            progress(done, len(ids))
    return done
