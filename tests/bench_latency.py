"""Commit-to-receipt latency of a Contact save through a real qcluster (not a pytest test).

    .venv/bin/python tests/bench_latency.py --broker orm --n 100
    .venv/bin/python tests/bench_latency.py --broker redis --n 100
    .venv/bin/python tests/bench_latency.py --broker orm \\
        --database postgres://postgres@127.0.0.1:5432/webhooks_bench

The script sets up its own database: a new SQLite file in a temporary folder
(removed at the end), or the PostgreSQL database named by --database, which it
drops (if it exists), creates and migrates, and leaves for inspection. It starts `manage.py qcluster` (the demo settings, ORM or
Redis broker), a receiver on 127.0.0.1 and one webhook subscribed to
contact.updated. Then, n times, it saves a Contact in a transaction and measures
from just before the commit until the receiver has read the request, and prints
the median, p90 and max in milliseconds. Saves come after a random pause (--gap),
as events do: back to back (--gap 0), each save would land just after the ORM
broker's pusher went to sleep for its poll interval (0.2 s) and the figures
would show that interval rather than the typical wait.
"""

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
    parser.add_argument("--n", type=int, default=100, help="saves to time (default 100)")
    parser.add_argument(
        "--database",
        default="",
        help="postgres://user@host:port/name of a database to (re)create for the run; default: a new SQLite file",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/14", help="Redis broker (--broker redis)"
    )
    parser.add_argument("--workers", type=int, default=2, help="qcluster workers (default 2)")
    parser.add_argument(
        "--gap",
        type=float,
        default=250,
        help="pause a random 0..GAP ms before each save (default 250), so that saves do not fall "
        "in step with the ORM broker's poll; 0 saves back to back",
    )
    return parser.parse_args()


def postgres_recreate(url: str) -> None:
    """Drop and create the database named in url, connecting to the server's postgres database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        sys.exit(
            f"--database must name a database of its own (not {name or 'nothing'!r}): it is dropped first"
        )
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    database_url = args.database or f"sqlite:///{workdir / 'bench.sqlite3'}"
    if args.database:
        postgres_recreate(args.database)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "Q_WORKERS": str(args.workers),
        "WEBHOOKS_ALLOWED_DESTINATIONS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if args.broker == "redis":
        env["REDIS_URL"] = args.redis_url
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    import logging

    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)  # one "Enqueued" line per save
    from django.core.management import call_command
    from django.db import transaction

    from config.contacts.models import Contact
    from tests.receiver import Receiver
    from webhooks_app import services

    call_command("migrate", verbosity=0)
    if args.broker == "redis":
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()  # no stale task of an earlier run

    receiver = Receiver().start()
    services.webhook_create(name="Latency", url=receiver.url, events=["contact.updated"])
    contact = Contact.objects.create(name="Bench")
    log_path = workdir / "qcluster.log"
    with open(log_path, "wb") as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        return run(args, receiver, contact, transaction, database_url, log_path)
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(5)
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # the SQLite file and the cluster's log


def save(contact, transaction, i) -> float:
    """Save the contact in a transaction; returns the clock reading taken just before the commit."""
    with transaction.atomic():
        contact.name = f"Bench {i}"
        contact.save()
        return time.perf_counter()


def run(args, receiver, contact, transaction, database_url, log_path) -> int:
    # Warm-up: the first save waits for the cluster to start and is not counted.
    save(contact, transaction, 0)
    try:
        receiver.wait_for(1, timeout=60)
    except AssertionError:
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    latencies = []
    pauses = random.Random(2)
    for i in range(1, args.n + 1):
        time.sleep(pauses.uniform(0, args.gap / 1000))
        started = save(contact, transaction, i)
        receiver.wait_for(i + 1, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    database = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    print(
        f"broker={args.broker} database={database} workers={args.workers} n={len(latencies)} "
        f"gap=0..{args.gap:g} ms: "
        f"median {statistics.median(latencies):.1f} ms, p90 {percentile(latencies, 0.9):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    print("  phases (medians): " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in phases()))
    return 0


def phases() -> list[tuple[str, float]]:
    """Where the time goes, from the rows' own timestamps (one clock, this machine)."""
    from webhooks_app.models import Attempt

    rows = (
        Attempt.objects.select_related("delivery__event")
        .filter(delivery__completed_at__isnull=False)
        .order_by("id")[1:]  # skip the warm-up
    )
    spans = {"save+commit to enqueue": [], "enqueue to request": [], "request": [], "record": []}
    for attempt in rows:
        delivery = attempt.delivery
        sent = attempt.created_at.timestamp() * 1000 - attempt.duration_ms
        # enqueued_at is only written to a delivery still pending after the enqueue
        # (a fast worker may have finished it already).
        if delivery.enqueued_at is not None:
            spans["save+commit to enqueue"].append(
                (delivery.enqueued_at - delivery.event.created_at).total_seconds() * 1000
            )
            spans["enqueue to request"].append(sent - delivery.enqueued_at.timestamp() * 1000)
        spans["request"].append(attempt.duration_ms)
        spans["record"].append((delivery.completed_at - attempt.created_at).total_seconds() * 1000)
    return [(name, statistics.median(values)) for name, values in spans.items() if values]


if __name__ == "__main__":
    sys.exit(main())
