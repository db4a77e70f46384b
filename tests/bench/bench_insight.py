"""Insight at scale: python -m tests.bench.bench_insight [--per-webhook N] [--busy 2] [--idle 20] [--keep]

Creates a PostgreSQL database of its own (webhooks_insight_bench on 127.0.0.1:5432,
user postgres; dropped at the end unless --keep), fills it with deliveries in a few
INSERT ... SELECT generate_series statements (default: 2 busy webhooks x 500,000
deliveries, one per second each, so ~86,400 per webhook in the last 24 hours;
--idle adds webhooks without deliveries), and prints the timings of what Insight touches:

- one webhook's stats (selectors.webhook_insight, 24h and 7d), cold (the hourly
  rollup still empty) and warm;
- the webhook list, console page and API, through Django's request handling;
- pages of the Deliveries log: the console's keyset pages (newest, at depth 2,000)
  and the API's cursor pages, next to what the old offset pagination with a
  COUNT(*) cost at the same depth.

Figures only, no assertions (tests/test_insight.py checks the numbers).
"""

import argparse
import os
import statistics
import sys
import time

DB = "webhooks_insight_bench"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = 25


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


class DatabaseTime:
    """Time spent waiting for the database (queries), to tell it from Python's time."""

    def __init__(self):
        self.ms, self.queries = 0.0, 0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - start) * 1000
            self.queries += 1


def timed(fn, repeat: int = 1) -> list[tuple[float, float, int]]:
    """(total ms, database ms, queries) of each call."""
    from django.db import connection

    runs = []
    for _ in range(repeat):
        db = DatabaseTime()
        with connection.execute_wrapper(db):
            start = time.perf_counter()
            fn()
            runs.append(((time.perf_counter() - start) * 1000, db.ms, db.queries))
    return runs


def show(label: str, runs: list[tuple[float, float, int]]) -> None:
    total = statistics.median(r[0] for r in runs)
    db = statistics.median(r[1] for r in runs)
    queries = runs[-1][2]
    if len(runs) == 1:
        print(f"  {label:<56} {total:8.1f} ms (database {db:.1f} ms, {queries} queries)")
    else:
        print(
            f"  {label:<56} {total:8.1f} ms median, {min(r[0] for r in runs):.1f} min "
            f"(database {db:.1f} ms median, {queries} queries; {len(runs)} runs)"
        )


def fill(*, per_webhook: int, busy: int, idle: int) -> list:
    """Webhooks, events and deliveries, straight into the tables."""
    from django.db import connection

    from webhooks_app.models import Webhook

    webhooks = [
        Webhook.objects.create(name=f"Busy {i}", url=f"https://busy{i}.example.com/hook", events=["*"])
        for i in range(busy)
    ]
    for i in range(idle):
        Webhook.objects.create(name=f"Idle {i:02}", url=f"https://idle{i}.example.com/hook", events=["*"])
    n = per_webhook
    with connection.cursor() as cursor:
        # One event per second, going back n seconds; each goes to every busy webhook.
        cursor.execute(
            """
            INSERT INTO webhooks_app_event (id, event_type, created_at, context, data)
            SELECT 'evt_' || lpad(g::text, 24, '0'), 'contact.updated',
                   now() - ((%(n)s - g) * interval '1 second'), '{}'::jsonb,
                   jsonb_build_object('id', g)
            FROM generate_series(1, %(n)s) AS g
            """,
            {"n": n},
        )
        # ~2% failed (6 attempts), the last 5 minutes still pending, the rest succeeded;
        # response times 5-404 ms with a long tail.
        cursor.execute(
            """
            INSERT INTO webhooks_app_delivery (webhook_id, event_id, event_type, url, status,
                attempt_count, next_attempt_at, last_response_status, last_error,
                last_error_code, last_error_params, last_duration_ms, created_at, updated_at,
                completed_at)
            SELECT w.id, 'evt_' || lpad(g::text, 24, '0'), 'contact.updated', w.url, s.status,
                   CASE s.status WHEN 'failed' THEN 6 WHEN 'pending' THEN 0 ELSE 1 END,
                   CASE s.status WHEN 'pending' THEN t.at END,
                   CASE s.status WHEN 'succeeded' THEN 200 WHEN 'failed' THEN 500 END,
                   '', '', '{}'::jsonb,
                   CASE WHEN s.status <> 'pending'
                        THEN (5 + ((g::bigint * 7919 + w.id * 104729) %% 400) * ((g %% 7) + 1) / 7)::int END,
                   t.at, t.at, CASE WHEN s.status <> 'pending' THEN t.at END
            FROM generate_series(1, %(n)s) AS g
            CROSS JOIN (SELECT id, url FROM webhooks_app_webhook WHERE name LIKE 'Busy%%') AS w
            CROSS JOIN LATERAL (SELECT now() - ((%(n)s - g) * interval '1 second') AS at) AS t
            CROSS JOIN LATERAL (SELECT CASE WHEN g > %(n)s - 300 THEN 'pending'
                                            WHEN (g::bigint * 31 + w.id) %% 50 = 0 THEN 'failed'
                                            ELSE 'succeeded' END AS status) AS s
            """,
            {"n": n},
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE webhooks_app_event")
        cursor.execute("VACUUM ANALYZE webhooks_app_delivery")
    return webhooks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-webhook", type=int, default=500_000, help="deliveries per busy webhook")
    parser.add_argument("--busy", type=int, default=2, help="webhooks with deliveries")
    parser.add_argument("--idle", type=int, default=0, help="webhooks without deliveries")
    parser.add_argument("--repeat", type=int, default=10, help="runs of each warm measurement")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DB} database")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by --keep")
    args = parser.parse_args(argv)

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.bench.settings"
    if not args.reuse:
        database_create()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test import Client

    from webhooks_app import selectors
    from webhooks_app.models import Delivery, DeliveryStatsHour

    try:
        connection.autocommit = True  # VACUUM cannot run in a transaction
        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        if args.reuse:
            from webhooks_app.models import Webhook

            DeliveryStatsHour.objects.all().delete()
            get_user_model().objects.filter(username="bench").delete()
            webhooks = list(Webhook.objects.filter(name__startswith="Busy").order_by("name"))
            idle = Webhook.objects.filter(name__startswith="Idle").order_by("name")
            Webhook.objects.filter(pk__in=list(idle.values_list("pk", flat=True)[args.idle :])).delete()
            for i in range(idle.count(), args.idle):
                Webhook.objects.create(
                    name=f"Idle {i:02}", url=f"https://idle{i}.example.com/hook", events=["*"]
                )
        else:
            webhooks = fill(per_webhook=args.per_webhook, busy=args.busy, idle=args.idle)
        total = Delivery.objects.count()
        print(
            f"{total:,} deliveries ({args.busy} busy webhooks x {args.per_webhook:,}, {args.idle} idle) "
            f"written in {time.perf_counter() - start:.1f} s; PostgreSQL {connection.pg_version}"
        )
        hook = webhooks[0]
        last_24h = Delivery.objects.filter(
            webhook=hook,
            created_at__gte=django.utils.timezone.now() - django.utils.timezone.timedelta(hours=24),
        ).count()
        print(f"  webhook '{hook.name}': {last_24h:,} deliveries in the last 24 hours")

        print("\nStats of one webhook (selectors.webhook_insight = GET /api/webhooks/{id}/stats/)")
        show(
            "24h, cold (the hourly rollup empty: counts 23 finished hours)",
            timed(lambda: selectors.webhook_insight(webhook=hook, period="24h")),
        )
        show("24h, warm", timed(lambda: selectors.webhook_insight(webhook=hook, period="24h"), args.repeat))
        show(
            "7d, cold for the 144 older hours",
            timed(lambda: selectors.webhook_insight(webhook=hook, period="7d")),
        )
        show("7d, warm", timed(lambda: selectors.webhook_insight(webhook=hook, period="7d"), args.repeat))
        print(f"  rollup rows: {DeliveryStatsHour.objects.count()}")

        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-pw")
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        stats_url = f"/api/webhooks/{hook.pk}/stats/"
        show(
            "GET /api/webhooks/{id}/stats/ (whole request)", timed(lambda: client.get(stats_url), args.repeat)
        )
        show(
            "GET .../stats/?period=7d (whole request)",
            timed(lambda: client.get(stats_url, {"period": "7d"}), args.repeat),
        )
        show(
            "console webhook page with its chart (whole request)",
            timed(lambda: client.get(f"/settings/webhooks/{hook.pk}/"), args.repeat),
        )

        from webhooks_app.models import Webhook

        print(f"\nWebhook list ({Webhook.objects.count()} webhooks; whole requests)")
        DeliveryStatsHour.objects.exclude(webhook=hook).delete()
        show(
            "console list, cold for the other webhooks' hours",
            timed(lambda: client.get("/settings/webhooks/")),
        )
        show("console list, warm", timed(lambda: client.get("/settings/webhooks/"), args.repeat))
        show("GET /api/webhooks/, warm", timed(lambda: client.get("/api/webhooks/"), args.repeat))

        print("\nDeliveries log of one webhook")
        log_url = f"/settings/webhooks/{hook.pk}/deliveries/"
        qs = selectors.delivery_list(webhook=hook)
        depth = PAGE * 1999  # the first row of page 2,000
        at = qs[depth - 1]
        cursor = selectors.delivery_cursor(at)
        show("console, newest page", timed(lambda: client.get(log_url), args.repeat))
        show(
            "console, page 2,000 (?older=<cursor>)",
            timed(lambda: client.get(log_url, {"older": cursor}), args.repeat),
        )
        show(
            "console, page 2,000 filtered status=failed",
            timed(lambda: client.get(log_url, {"older": cursor, "status": "failed"}), args.repeat),
        )
        show(
            "selector only, page 2,000 (keyset query)",
            timed(
                lambda: list(selectors.delivery_page(queryset=qs, size=PAGE, older=cursor).rows), args.repeat
            ),
        )

        def offset_page():  # what the console did before: COUNT(*) and OFFSET
            list(Paginator(qs, PAGE).get_page(2000).object_list)

        show("before: offset page 2,000 with COUNT(*) (query only)", timed(offset_page, args.repeat))

        import base64
        from urllib.parse import urlencode

        position = str(at.created_at)
        api_cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
        api_log = f"/api/webhooks/{hook.pk}/deliveries/"
        show(
            "GET /api/webhooks/{id}/deliveries/, first page", timed(lambda: client.get(api_log), args.repeat)
        )
        show(
            "GET .../deliveries/?cursor=<page 2,000>",
            timed(lambda: client.get(api_log, {"cursor": api_cursor}), args.repeat),
        )
    finally:
        if not args.keep:
            database_drop()
        print(f"\nLoad average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
