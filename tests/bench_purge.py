"""Benchmark of the retention purge on PostgreSQL (a script, not collected by pytest).

    .venv/bin/python tests/bench_purge.py [--attempts 1000000] [--batch-size 5000] [--keep]

Creates a database of its own (``webhooks_bench_purge`` on the server of
BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres), migrates
it, fills it with SQL (generate_series) with ``--attempts`` attempts older than the
retention plus recent rows and old pending deliveries, then runs
``services.retention_purge`` while a writer thread keeps inserting events,
deliveries and attempts. Prints rows/s, wall time and the writer's latencies,
checks what must survive did, and drops the database unless ``--keep``.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "webhooks_bench_purge"


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url().replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


def setup_django() -> None:
    os.environ["DATABASE_URL"] = database_url(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


FILL_SQL = """
-- Old rows: {events} events, 2 deliveries each (one per webhook), {per} attempts per
-- delivery, all {days_old} to {days_old_max} days old and finished.
INSERT INTO webhooks_app_event (id, event_type, created_at, context, data)
SELECT 'evt_old_' || g, 'contact.updated', now() - interval '{days_old} days' - (g % 86400) * interval '1 second',
       '{{"source": "bench"}}'::jsonb,
       jsonb_build_object('id', g, 'email', 'user' || g || '@example.com', 'accepts_email', true)
FROM generate_series(1, {events}) AS g;

INSERT INTO webhooks_app_delivery (webhook_id, event_id, event_type, status, attempt_count,
    last_response_status, last_error, last_error_code, last_error_params, last_duration_ms,
    created_at, updated_at, completed_at)
SELECT w.id, e.id, e.event_type,
       CASE WHEN g.n % 10 = 0 THEN 'failed' WHEN g.n % 97 = 0 THEN 'cancelled' ELSE 'succeeded' END,
       {per}, 200, '', '', '{{}}'::jsonb, 12, e.created_at, e.created_at, e.created_at
FROM webhooks_app_event e
CROSS JOIN (SELECT id FROM webhooks_app_webhook ORDER BY id LIMIT 2) w
CROSS JOIN LATERAL (SELECT substr(e.id, 9)::int AS n) g
WHERE e.id LIKE 'evt_old_%';

INSERT INTO webhooks_app_attempt (delivery_id, number, created_at, request_url, request_headers,
    request_body, response_status, response_headers, response_body, response_truncated,
    duration_ms, error_class, error_message, error_code, error_params)
SELECT d.id, n, d.created_at, 'https://receiver.example.com/hook',
       '{{"Content-Type": "application/json", "webhook-id": "evt", "webhook-signature": "[redacted]"}}'::jsonb,
       '{{"id": "evt", "event_type": "contact.updated", "data": {{"id": 1, "email": "a@example.com"}}}}',
       CASE WHEN n < {per} THEN 500 ELSE 200 END, '{{"Content-Type": "application/json"}}'::jsonb,
       '{{"ok": true}}', false, 12, CASE WHEN n < {per} THEN 'http_status' ELSE '' END,
       CASE WHEN n < {per} THEN 'HTTP 500 Internal Server Error' ELSE '' END, '', '{{}}'::jsonb
FROM webhooks_app_delivery d CROSS JOIN generate_series(1, {per}) AS n
WHERE d.event_id LIKE 'evt_old_%';

-- Old pending deliveries (a long retry): kept whatever their age, with their attempts.
UPDATE webhooks_app_delivery SET status = 'pending', completed_at = NULL, next_attempt_at = now()
WHERE id IN (SELECT id FROM webhooks_app_delivery WHERE event_id LIKE 'evt_old_%' ORDER BY id LIMIT {pending});

-- Recent rows: kept.
INSERT INTO webhooks_app_event (id, event_type, created_at, context, data)
SELECT 'evt_new_' || g, 'contact.updated', now() - (g % 86400) * interval '1 second', '{{}}'::jsonb,
       jsonb_build_object('id', g)
FROM generate_series(1, {recent}) AS g;

INSERT INTO webhooks_app_delivery (webhook_id, event_id, event_type, status, attempt_count,
    last_error, last_error_code, last_error_params, created_at, updated_at, completed_at)
SELECT w.id, e.id, e.event_type, 'succeeded', 1, '', '', '{{}}'::jsonb, e.created_at, e.created_at,
       e.created_at
FROM webhooks_app_event e CROSS JOIN (SELECT id FROM webhooks_app_webhook ORDER BY id LIMIT 2) w
WHERE e.id LIKE 'evt_new_%';

INSERT INTO webhooks_app_attempt (delivery_id, number, created_at, request_url, request_headers,
    request_body, response_status, response_headers, response_body, response_truncated,
    duration_ms, error_class, error_message, error_code, error_params)
SELECT d.id, 1, d.created_at, 'https://receiver.example.com/hook', '{{}}'::jsonb, '{{}}', 200,
       '{{}}'::jsonb, '', false, 10, '', '', '', '{{}}'::jsonb
FROM webhooks_app_delivery d WHERE d.event_id LIKE 'evt_new_%';
"""


class Writer(threading.Thread):
    """Inserts an event, a delivery and an attempt per transaction; records each latency."""

    def __init__(self, webhook_id: int):
        super().__init__(daemon=True)
        self.webhook_id = webhook_id
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        from django.db import connection, transaction
        from django.utils import timezone

        from webhooks_app.models import Attempt, Delivery, Event

        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    with transaction.atomic():
                        event = Event.objects.create(
                            id=f"evt_live_{n}", event_type="contact.updated", data={"id": n}
                        )
                        delivery = Delivery.objects.create(
                            webhook_id=self.webhook_id,
                            event=event,
                            event_type=event.event_type,
                            status="succeeded",
                            attempt_count=1,
                            completed_at=timezone.now(),
                        )
                        Attempt.objects.create(
                            delivery=delivery, number=1, request_url="https://receiver.example.com/hook"
                        )
                except Exception as exc:  # noqa: BLE001 - reported at the end
                    self.errors.append(repr(exc))
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.01)
        finally:
            connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=1_000_000, help="old attempts to purge")
    parser.add_argument("--per-delivery", type=int, default=2, help="attempts per old delivery")
    parser.add_argument("--recent", type=int, default=20_000, help="recent events (kept)")
    parser.add_argument("--pending", type=int, default=1_000, help="old pending deliveries (kept)")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    admin(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    admin(f"CREATE DATABASE {BENCH_DB}")
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from webhooks_app import services
    from webhooks_app.models import Attempt, Delivery, Event, Webhook

    try:
        call_command("migrate", verbosity=0)
        hooks = [
            Webhook.objects.create(name=f"bench {i}", url=f"https://receiver.example.com/{i}", events=["*"])
            for i in range(2)
        ]
        deliveries = args.attempts // args.per_delivery
        events = deliveries // 2
        sql = FILL_SQL.format(
            events=events,
            per=args.per_delivery,
            days_old=40,
            days_old_max=41,
            recent=args.recent,
            pending=args.pending,
        )
        started = time.monotonic()
        with connection.cursor() as cursor:
            for statement in sql.split(";\n"):
                if statement.strip():
                    cursor.execute(statement)
            cursor.execute("VACUUM ANALYZE webhooks_app_event")
            cursor.execute("VACUUM ANALYZE webhooks_app_delivery")
            cursor.execute("VACUUM ANALYZE webhooks_app_attempt")
        before = {
            "attempts": Attempt.objects.count(),
            "deliveries": Delivery.objects.count(),
            "events": Event.objects.count(),
        }
        print(f"filled in {time.monotonic() - started:.1f} s: {before}")
        pending_attempts = Attempt.objects.filter(delivery__status="pending").count()

        writer = Writer(hooks[0].pk)
        writer.start()
        time.sleep(1)
        baseline = list(writer.latencies)
        last_report = [time.monotonic()]

        def progress(name, count):
            if time.monotonic() - last_report[0] >= 5:
                last_report[0] = time.monotonic()
                print(f"  {name}: {count} deleted", flush=True)

        started = time.monotonic()
        counts = services.retention_purge(days=30, batch_size=args.batch_size, progress=progress)
        wall = time.monotonic() - started
        time.sleep(1)
        writer.stop.set()
        writer.join()

        total = sum(counts.values())
        during = writer.latencies[len(baseline) :]
        print(f"purged: {counts}")
        print(f"wall time: {wall:.1f} s")
        print(f"attempts/s: {counts['attempts'] / wall:,.0f}; all rows/s: {total / wall:,.0f}")
        print(
            f"writer: {len(during)} transactions during the purge; latency median "
            f"{statistics.median(during) * 1000:.1f} ms, p99 "
            f"{sorted(during)[int(len(during) * 0.99) - 1] * 1000:.1f} ms, max {max(during) * 1000:.1f} ms "
            f"(before the purge: max {max(baseline) * 1000:.1f} ms); errors: {len(writer.errors)}"
        )
        for error in writer.errors[:5]:
            print("  writer error:", error)

        left = {
            "attempts": Attempt.objects.count(),
            "deliveries": Delivery.objects.count(),
            "events": Event.objects.count(),
        }
        live = len(writer.latencies) - len(writer.errors)
        expected = {
            "attempts": args.recent * 2 + pending_attempts + live,
            "deliveries": args.recent * 2 + args.pending + live,
        }
        print(f"left: {left}; expected attempts {expected['attempts']}, deliveries {expected['deliveries']}")
        ok = (
            counts["attempts"] == args.attempts - pending_attempts
            and left["attempts"] == expected["attempts"]
            and left["deliveries"] == expected["deliveries"]
            and not Event.objects.filter(id__startswith="evt_old_", deliveries__isnull=True).exists()
            and not writer.errors
        )
        print("OK" if ok else "MISMATCH")
        return 0 if ok else 1
    finally:
        connection.close()
        if not args.keep:
            admin(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
