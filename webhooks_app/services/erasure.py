"""Erasure by data subject: every event carrying a subject, and its attempts' bodies, erased in place.

A subject is a value at one of the paths declared in WEBHOOKS["SUBJECT_PATHS"]
(``email``, ``customer.id``, ``$context.user_id``). An erasure redacts in place,
so the log's metadata and counts stay: each matching event keeps its id, type
and time, its ``data`` becomes ``{}`` and its ``context`` ``{"erasure": <id>}``;
the request and response bodies of its deliveries' attempts are erased; its
pending deliveries are cancelled (nothing is ever sent for an erased event).
Deliveries, attempts, statuses, response codes and durations stay.

**Found by an index.** Each declared path has an expression index on the event
table, over ``(value at the path as text, id)``: ``data #>> '{email}'`` on
PostgreSQL, ``CAST(json_extract(data, '$."email"') AS TEXT)`` on SQLite, so
both find a subject's events without reading the others, in id order (the
batches' keyset). ``migrate`` creates the indexes of the declared paths and drops
those of paths no longer declared (subject_indexes_ensure; CONCURRENTLY on
PostgreSQL, so writers are not blocked). Values compare as text: ``id=42``
finds ``42`` and ``"42"``.

**Logged and resumable.** Each erasure is an Erasure row (who, when, the subject's
key and an HMAC of key=value, never the value, and the rows it changed). It
works in batches, each one transaction that also moves the row's ``cursor`` and
counts: a killed erasure has lost at most its open batch, and asking again for
the same subject resumes the unfinished row (an erased event no longer matches,
so nothing is done twice).

**Safe beside running workers.** A worker that claimed a delivery before its
event was erased holds the old payload and will record an attempt carrying it.
Pending deliveries no worker holds are cancelled in the batch's transaction (a
claim skips rows the batch has locked, and after it commits they are no longer
pending); those a worker holds are kept in ``in_flight`` with the end of their
lease. The erasure finishes only once none of them is held any more, or their
leases have run out (a worker records before its lease ends, or is taken for
dead by the engine itself): then their attempts are erased again and, if still
pending, they are cancelled. Until then the erasure is ``settling``.
"""

import hashlib
import logging
import re
import time
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..conf import app_settings
from ..exceptions import WebhookValidationError
from ..models import Attempt, Delivery, Erasure, Event
from .deliveries import ALLOWED_TRANSITIONS

logger = logging.getLogger(__name__)

CONTEXT_PREFIX = "$context."
# A path: names of letters, digits, "_" or "-" joined by dots; "$context." for the context.
# Nothing else, so that a path can be written into SQL as a literal (the index's expression).
SUBJECT_PATH_RE = re.compile(r"(?=.{1,200}\Z)(\$context\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
MAX_VALUE_LENGTH = 1000
INDEX_PREFIX = "wh_subj_"
ERASED = "[erased]"
ERASED_REASON = "Not sent: the event's data was erased (erasure {pk})."
HASH_SALT = "webhooks_app.erasure.subject"


def subject_parse(text: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> (key, value), the key a declared subject path (else WebhookValidationError)."""
    key, sep, value = (text or "").partition("=")
    if not sep:
        raise WebhookValidationError(
            "Write the subject as KEY=VALUE, e.g. email=a@example.com.", field="subject"
        )
    return subject_validate(key=key.strip(), value=value)


def subject_validate(*, key, value) -> tuple[str, str]:
    """The key checked against WEBHOOKS["SUBJECT_PATHS"], the value as the text it is compared as."""
    declared = list(app_settings.SUBJECT_PATHS or [])
    if not declared:
        raise WebhookValidationError(
            "No subject paths are declared: set WEBHOOKS['SUBJECT_PATHS'] (e.g. [\"email\"]) first.",
            field="key",
            code="no_paths",
        )
    if key not in declared:
        raise WebhookValidationError(
            f"{key!r} is not a declared subject path; declared: {', '.join(declared)}.", field="key"
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookValidationError("The value is a string or an integer.", field="value")
    value = str(value)
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise WebhookValidationError(f"The value is 1-{MAX_VALUE_LENGTH} characters.", field="value")
    return key, value


def subject_hash(*, key: str, value: str) -> str:
    """HMAC-SHA256 of ``key=value`` under SECRET_KEY: recognises a subject again without storing it."""
    return salted_hmac(HASH_SALT, f"{key}={value}", algorithm="sha256").hexdigest()


# The expression index ----------------------------------------------------------------------


def _column_and_parts(path: str) -> tuple[str, list[str]]:
    if path.startswith(CONTEXT_PREFIX):
        return "context", path.removeprefix(CONTEXT_PREFIX).split(".")
    return "data", path.split(".")


def subject_expression(path: str, vendor: str) -> str:
    """The SQL of the value at ``path`` as text; the same text in the index and in the query.

    Safe to write into SQL: SUBJECT_PATH_RE allows letters, digits, "_", "-" and dots only.
    """
    if not SUBJECT_PATH_RE.fullmatch(path):
        raise ValueError(f"Not a subject path: {path!r}")
    column, parts = _column_and_parts(path)
    if vendor == "postgresql":
        return f"(\"{column}\" #>> '{{{','.join(parts)}}}')"
    if vendor == "sqlite":
        json_path = "$" + "".join(f'."{part}"' for part in parts)
        return f"CAST(json_extract(\"{column}\", '{json_path}') AS TEXT)"
    raise NotImplementedError(f"Erasure needs PostgreSQL or SQLite, not {vendor}")


def subject_index_name(path: str) -> str:
    return INDEX_PREFIX + hashlib.sha256(path.encode()).hexdigest()[:20]


def subject_indexes_ensure(using=DEFAULT_DB_ALIAS, **kwargs) -> dict:
    """Create the index of each declared subject path and drop those of paths no longer declared.

    Run after ``migrate`` (a post_migrate receiver); returns {"created": [...], "dropped": [...]}.
    On PostgreSQL outside a transaction the index is built CONCURRENTLY (writers go on).
    """
    connection = connections[using]
    done = {"created": [], "dropped": []}
    if connection.vendor not in ("postgresql", "sqlite"):
        return done
    table = Event._meta.db_table
    quote = connection.ops.quote_name
    paths = [
        p for p in (app_settings.SUBJECT_PATHS or []) if isinstance(p, str) and SUBJECT_PATH_RE.fullmatch(p)
    ]
    wanted = {subject_index_name(p): p for p in paths}
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return done
        existing = {
            name
            for name in connection.introspection.get_constraints(cursor, table)
            if name.startswith(INDEX_PREFIX)
        }
    concurrently = (
        "CONCURRENTLY " if connection.vendor == "postgresql" and not connection.in_atomic_block else ""
    )
    with connection.cursor() as cursor:
        for name in sorted(existing - set(wanted)):
            cursor.execute(f"DROP INDEX {concurrently}IF EXISTS {quote(name)}")
            done["dropped"].append(name)
        for name, path in wanted.items():
            if name in existing:
                continue
            expression = subject_expression(path, connection.vendor)
            cursor.execute(
                f"CREATE INDEX {concurrently}IF NOT EXISTS {quote(name)} ON {quote(table)} ({expression}, {quote('id')})"
            )
            done["created"].append(name)
    if done["created"] or done["dropped"]:
        logger.info("Subject indexes: created %s, dropped %s", done["created"], done["dropped"])
    return done


def events_of_subject(*, key: str, value: str, using: str | None = None):
    """The events whose value at the subject path ``key`` is ``value`` (served by the path's index)."""
    using = using or router.db_for_write(Event)
    expression = subject_expression(key, connections[using].vendor)
    return (
        Event.objects.using(using)
        .annotate(subject_value=RawSQL(expression, ()))  # noqa: S611 - a validated path, no input
        .filter(subject_value=value)
    )


# Erasing -------------------------------------------------------------------------------------


def _actor_name(actor, source: str) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return source


def subject_erase(
    *,
    key: str,
    value,
    actor=None,
    actor_name: str = "",
    source: str = "",
    batch_size: int = 500,
    progress=None,
    max_seconds: float | None = None,
    wait_seconds: float | None = 0,
) -> Erasure:
    """Erase every event carrying the subject ``key=value`` (see the module's docstring); the Erasure row.

    An unfinished erasure of the same subject is resumed rather than a new one
    started. ``progress(done, total)`` is called after each batch. With
    ``max_seconds`` it returns after the batch that passes it, still ``running``.
    Deliveries in flight are waited for up to ``wait_seconds`` (None: until their
    leases end); past that it returns ``settling``, and a later call finishes it.
    """
    key, value = subject_validate(key=key, value=value)
    if batch_size < 1:
        raise WebhookValidationError("The batch size is at least 1.", field="batch_size")
    using = router.db_for_write(Event)
    digest = subject_hash(key=key, value=value)
    matching = events_of_subject(key=key, value=value, using=using)
    erasure = (
        Erasure.objects.using(using)
        .filter(subject_key=key, subject_hash=digest)
        .exclude(status=Erasure.Status.FINISHED)
        .order_by("created_at", "pk")
        .first()
    )
    if erasure is None:
        erasure = Erasure.objects.using(using).create(
            subject_key=key,
            subject_hash=digest,
            actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
            actor_name=(actor_name or _actor_name(actor, source))[:200],
            source=source[:16],
            total=matching.count(),
        )
        logger.info(
            "Erasure %s by %s started by %s: %s events", erasure.pk, key, erasure.actor_name, erasure.total
        )
    else:
        # Resumed: what is left, plus what is done.
        erasure.total = erasure.events + matching.filter(pk__gt=erasure.cursor).count()
        erasure.save(update_fields=["total", "updated_at"])
        logger.info(
            "Erasure %s by %s resumed at %s events of %s", erasure.pk, key, erasure.events, erasure.total
        )
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if erasure.status == Erasure.Status.RUNNING:
        while True:
            if not _batch_erase(erasure, matching, batch_size=batch_size, using=using):
                break
            if progress:
                progress(erasure.events, max(erasure.total, erasure.events))
            if deadline is not None and time.monotonic() >= deadline:
                return erasure
        Erasure.objects.using(using).filter(pk=erasure.pk).update(status=Erasure.Status.SETTLING)
        erasure.status = Erasure.Status.SETTLING
    if deadline is not None:
        left = max(deadline - time.monotonic(), 0.0)
        wait_seconds = left if wait_seconds is None else min(wait_seconds, left)
    if _settle(erasure, using=using, wait_seconds=wait_seconds):
        logger.info(
            "Erasure %s finished: %s events, %s attempts, %s deliveries cancelled",
            erasure.pk,
            erasure.events,
            erasure.attempts,
            erasure.deliveries_cancelled,
        )
    return erasure


def _attempts_erase(deliveries) -> int:
    return (
        Attempt.objects.filter(delivery_id__in=deliveries.values("pk"))
        .exclude(request_body=ERASED, response_body="")
        .update(request_body=ERASED, response_body="")
    )


def _cancel(deliveries, *, erasure: Erasure, now: datetime) -> int:
    assert Delivery.Status.CANCELLED in ALLOWED_TRANSITIONS[Delivery.Status.PENDING]
    return deliveries.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED,
        completed_at=now,
        next_attempt_at=None,
        lease_until=None,
        last_error=ERASED_REASON.format(pk=erasure.pk),
        updated_at=now,
    )


def _batch_erase(erasure: Erasure, matching, *, batch_size: int, using: str) -> bool:
    """Erase the next batch of the subject's events in one transaction; False when none is left."""
    with transaction.atomic(using=using):
        ids = list(
            matching.filter(pk__gt=erasure.cursor).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return False
        # The events first: their rows stay locked until this commits, and a claim
        # that reads them meanwhile still sees the old payload, so the deliveries
        # are looked at after it (a claim holds its rows locked: we wait for it).
        events = (
            Event.objects.using(using).filter(pk__in=ids).update(data={}, context={"erasure": erasure.pk})
        )
        deliveries = Delivery.objects.using(using).filter(event_id__in=ids)
        attempts = _attempts_erase(deliveries)
        now = timezone.now()
        free = deliveries.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        cancelled = _cancel(free, erasure=erasure, now=now)
        held = list(
            deliveries.filter(status=Delivery.Status.PENDING, lease_until__gte=now).values_list(
                "pk", "lease_until"
            )
        )
        erasure.cursor = ids[-1]
        erasure.events += events
        erasure.attempts += attempts
        erasure.deliveries_cancelled += cancelled
        if held:
            erasure.in_flight = sorted({*erasure.in_flight, *(pk for pk, _ in held)})
            latest = max(lease for _, lease in held)
            erasure.settle_until = max(erasure.settle_until or latest, latest)
        erasure.save(
            update_fields=[
                "cursor",
                "events",
                "attempts",
                "deliveries_cancelled",
                "in_flight",
                "settle_until",
                "updated_at",
            ]
        )
    return True


def _settle(erasure: Erasure, *, using: str, wait_seconds: float | None) -> bool:
    """Finish once the deliveries in flight are no longer held (or their leases ran out); True when finished."""
    flights = Delivery.objects.using(using).filter(pk__in=erasure.in_flight)
    waited_until = None if wait_seconds is None else time.monotonic() + wait_seconds
    while erasure.in_flight:
        now = timezone.now()
        if not flights.filter(status=Delivery.Status.PENDING, lease_until__gte=now).exists():
            break
        if erasure.settle_until is None or now >= erasure.settle_until:
            break
        if waited_until is not None and time.monotonic() >= waited_until:
            return False
        time.sleep(0.2)
    with transaction.atomic(using=using):
        now = timezone.now()
        if erasure.in_flight:
            erasure.attempts += _attempts_erase(flights)
            erasure.deliveries_cancelled += _cancel(flights, erasure=erasure, now=now)
        erasure.status = Erasure.Status.FINISHED
        erasure.finished_at = now
        erasure.save(
            update_fields=["attempts", "deliveries_cancelled", "status", "finished_at", "updated_at"]
        )
    return True
