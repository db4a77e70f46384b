"""Operations at scale: python -m tests.bench.bench_operations [--events 100000] [--keep]

Creates a PostgreSQL database of its own (webhooks_ops_bench on 127.0.0.1:5432, user
postgres; dropped at the end unless --keep), migrates it (which builds the subject
indexes of the demo's WEBHOOKS["SUBJECT_PATHS"]), fills it with SQL (generate_series):
``--events`` events of 10,000 different people (25 of them Alice's), two
deliveries per event (one per webhook), one attempt per delivery carrying the
payload, and a backlog of due, in-flight and future deliveries. Then it prints:

- the erasure of Alice (``services.erasure.subject_erase``): wall time, rows changed,
  and the plan of its batch query (the subject index, not a scan of the events);
- the reads of /healthz and webhooks_status (the oldest due delivery, the backlog
  per webhook) with their plans;
- one /metrics scrape (the database collector).

Figures only; tests/test_erasure.py checks the erasure of one subject among
100,000 events for correctness.
"""

import argparse
import os
import sys
import time

DB = "webhooks_ops_bench"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ALICE = "alice@example.com"

FILL_SQL = """
INSERT INTO webhooks_app_event (id, event_type, created_at, context, data)
SELECT 'evt_' || lpad(g::text, 12, '0'), 'contact.updated', now() - (g %% 86400) * interval '1 second',
       jsonb_build_object('source', 'bench', 'user_id', 'u' || (g %% 10000)),
       jsonb_build_object('id', g, 'accepts_email', true,
                          'email', CASE WHEN g %% %(every)s = 0 THEN %(alice)s
                                        ELSE 'user' || (g %% 10000) || '@example.com' END)
FROM generate_series(1, %(events)s) AS g;

INSERT INTO webhooks_app_delivery (webhook_id, event_id, event_type, url, status, attempt_count,
    last_response_status, last_error, last_error_code, last_error_params, last_duration_ms,
    created_at, updated_at, completed_at)
SELECT w.id, e.id, e.event_type, '', 'succeeded', 1, 200, '', '', '{}'::jsonb, 12,
       e.created_at, e.created_at, e.created_at
FROM webhooks_app_event e CROSS JOIN (SELECT id FROM webhooks_app_webhook ORDER BY id LIMIT 2) w;

INSERT INTO webhooks_app_attempt (delivery_id, number, created_at, request_url, request_headers,
    request_body, response_status, response_headers, response_body, response_truncated,
    duration_ms, error_class, error_message, error_code, error_params)
SELECT d.id, 1, d.created_at, 'http://127.0.0.1:9/hook', '{"Content-Type": "application/json"}'::jsonb,
       jsonb_build_object('id', e.id, 'event_type', e.event_type, 'data', e.data)::text,
       200, '{}'::jsonb, '{"ok": true}', false, 12, '', '', '', '{}'::jsonb
FROM webhooks_app_delivery d JOIN webhooks_app_event e ON e.id = d.event_id;

-- A backlog: every 500th delivery due (some minutes ago), 1 in 33,000 of those in flight,
-- every 2,001st a retry due in an hour.
UPDATE webhooks_app_delivery SET status = 'pending', completed_at = NULL,
       next_attempt_at = now() - (id %% 600) * interval '1 second' WHERE id %% 500 = 0;
UPDATE webhooks_app_delivery SET lease_until = now() + interval '1 hour'
 WHERE id %% 33000 = 0 AND status = 'pending';
UPDATE webhooks_app_delivery SET status = 'pending', completed_at = NULL,
       next_attempt_at = now() + interval '1 hour' WHERE id %% 2001 = 0 AND status <> 'pending';
"""


def fill(cursor, *, events: int, alice_events: int = 25) -> None:
    """The events, deliveries, attempts and backlog described above (two webhooks must exist)."""
    cursor.execute(FILL_SQL, {"events": events, "every": max(events // alice_events, 1), "alice": ALICE})
    cursor.execute("ANALYZE webhooks_app_event")
    cursor.execute("ANALYZE webhooks_app_delivery")
    cursor.execute("ANALYZE webhooks_app_attempt")


def database_create() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')


def database_drop() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def explain(queryset) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
        return "\n".join("      " + row[0] for row in cursor.fetchall())


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    print(f"  {label:<44} {1000 * (time.perf_counter() - started):9.1f} ms")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args(argv)

    sys.path.insert(0, os.getcwd())
    database_create()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from webhooks_app import services
    from webhooks_app.metrics import reads
    from webhooks_app.metrics.collector import render
    from webhooks_app.models import Attempt, Delivery, Event
    from webhooks_app.services.erasure import events_of_subject, subject_erase

    try:
        call_command("migrate", verbosity=0)
        for name in ("A", "B"):
            services.webhook_create(name=name, events=["*"], url=f"http://127.0.0.1:9/{name}")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            fill(cursor, events=args.events)
        print(
            f"Filled {Event.objects.count():,} events, {Delivery.objects.count():,} deliveries, "
            f"{Attempt.objects.count():,} attempts in {time.perf_counter() - started:.1f} s"
        )

        print("\nErasure of one subject")
        batch = (
            events_of_subject(key="email", value=ALICE).filter(pk__gt="").order_by("pk").values("pk")[:500]
        )
        print("    the batch query:\n" + explain(batch))
        erasure = timed(
            "subject_erase(email=alice@example.com)", lambda: subject_erase(key="email", value=ALICE)
        )
        print(
            f"    {erasure.status}: {erasure.events} events, {erasure.attempts} attempts, "
            f"{erasure.deliveries_cancelled} deliveries cancelled"
        )

        print("\nHealth and the backlog")
        now = timezone.now()
        oldest = reads._pending_reached(now).filter(reads._free(now)).order_by("next_attempt_at")
        print("    the oldest due delivery:\n" + explain(oldest.values("next_attempt_at")[:1]))
        timed("health_check()", reads.health_check)
        backlog = timed("backlog_read()", reads.backlog_read)
        print(f"    {backlog.due:,} due, {backlog.in_flight:,} in flight")

        print("\n/metrics")
        timed("one scrape (the database collector)", lambda: render(None))
        timed("deliveries_finished_counts()", reads.deliveries_finished_counts)
    finally:
        if not args.keep:
            database_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
