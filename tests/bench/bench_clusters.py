"""Scale-out benchmark (issue 12): one cluster of 3 workers against three clusters of 1; prints figures.

    python -m tests.bench.bench_clusters                       # 6,000 deliveries, ORM and Redis
    python -m tests.bench.bench_clusters --deliveries 2000 --brokers orm --json out.json

It sets up everything itself, like tests/bench/webhooks_bench.py (whose harness it
reuses): a receiver process (uvicorn serving tests/bench/receiver_app.py on
127.0.0.1), its own PostgreSQL database ``webhooks_clusters_bench`` at
127.0.0.1:5432 (created, and dropped at the end), its own Redis database (db 13,
flushed) and real ``manage.py qcluster`` subprocesses (settings
tests/bench/settings.py).

For each broker and layout, N deliveries (N events to one webhook) are queued with
no cluster running, then drained by (a) one cluster of 3 workers, (b) three
clusters of 1 worker, started at once. It prints deliveries/s of each (from the
clusters' start, and from the first request the receiver got to the last) and the
ratio b/a. Around the queueing (the emits) and around each drain it reads the
database's own counters: transactions and rows inserted/updated/deleted
(``pg_stat_database`` deltas), the WAL written (``pg_walinspect``: the records
touching this database and their transactions' commit records; the whole server's
WAL too, which includes other databases' traffic), and the CPU time of the
PostgreSQL backends serving this database (``/proc/<pid>/stat``, sampled every
0.2 s). Hence rows, transactions and WAL bytes per delivery, and deliveries per
PostgreSQL CPU-second. Figures only, no assertions; on a shared machine they are
noisy: run it twice.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.bench.common import POSTGRES_ADMIN_URL, REDIS_DB
from tests.bench.webhooks_bench import Harness, fmt, machine, machine_line

ROOT = Path(__file__).resolve().parents[2]
DB = "webhooks_clusters_bench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
LAYOUTS = {"a": [3], "b": [1, 1, 1]}  # workers per cluster
TICKS = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the harness: Harness of webhooks_bench with a database of its own -------------------------


class ClustersHarness(Harness):
    def database_url(self, db: str) -> str:
        return DB_URL

    def postgres_recreate(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB}"')
        with psycopg.connect(DB_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        self.postgres_created = True

    def postgres_drop(self) -> None:
        if not self.postgres_created:
            return
        import psycopg

        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
            self.postgres_created = False
        except Exception as exc:  # noqa: BLE001 - reported, never hides the results
            say(f"could not drop the database {DB}: {exc}")

    def env(self, broker: str) -> dict:
        env = self.base_env()
        env["DATABASE_URL"] = DB_URL
        if broker == "redis":
            env["REDIS_URL"] = REDIS_URL
        env["WEBHOOKS_BENCH_OVERRIDES"] = "{}"
        return env


# --- what PostgreSQL did -----------------------------------------------------------------------


class Postgres:
    """Counters of the benchmark database, and a sampler of its backends' CPU time."""

    def __init__(self):
        import psycopg

        self.conn = psycopg.connect(DB_URL.replace("postgres://", "postgresql://"), autocommit=True)
        self.oid = self.conn.execute("SELECT oid FROM pg_database WHERE datname = %s", [DB]).fetchone()[0]
        self.me = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self._cpu: dict[int, list[int]] = {}  # pid -> [ticks at first sight, last ticks]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def counters(self) -> dict:
        row = self.conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
            "tup_returned, tup_fetched, pg_current_wal_flush_lsn()::text FROM pg_stat_database WHERE datname = %s",
            [DB],
        ).fetchone()
        keys = ("commits", "rollbacks", "inserted", "updated", "deleted", "returned", "fetched", "lsn")
        return dict(zip(keys, row, strict=True))

    SLOT = "webhooks_clusters_bench"

    def wal_hold(self) -> None:
        """Keep the WAL from now on until wal_release() (a physical replication slot):
        a checkpoint of the busy server would otherwise recycle it before it is read."""
        self.wal_release()
        self.conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", [self.SLOT])

    def wal_release(self) -> None:
        self.conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            [self.SLOT],
        )

    def wal(self, start_lsn: str, end_lsn: str) -> tuple[int | None, int]:
        """(bytes of this database's records and their commit records, bytes of the whole server)."""
        server = self.scalar("SELECT pg_wal_lsn_diff(%s, %s)::bigint", [end_lsn, start_lsn])
        try:
            return self._wal(start_lsn, end_lsn)[0], server
        except Exception as exc:  # noqa: BLE001 - the figure is left out, the run goes on
            say(f"    WAL records unreadable ({exc}); only the server's WAL is reported")
            return None, server

    def _wal(self, start_lsn: str, end_lsn: str) -> tuple[int, int]:
        pattern = f"%/{self.oid}/%"
        row = self.conn.execute(
            "WITH r AS (SELECT xid, record_length, block_ref FROM pg_get_wal_records_info(%s, %s)), "
            "x AS (SELECT DISTINCT xid FROM r WHERE block_ref LIKE %s AND xid <> '0') "
            "SELECT coalesce(sum(record_length) FILTER (WHERE block_ref LIKE %s OR xid IN (SELECT xid FROM x)), 0), "
            "coalesce(sum(record_length), 0) FROM r",
            [start_lsn, end_lsn, pattern, pattern],
        ).fetchone()
        return int(row[0]), int(row[1])

    def _backends(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s", [DB, self.me]
        ).fetchall()
        return [r[0] for r in rows]

    @staticmethod
    def _ticks(pid: int) -> int | None:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = raw[raw.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def _sample(self, first: bool = False) -> None:
        for pid in self._backends():
            ticks = self._ticks(pid)
            if ticks is None:
                continue
            if pid not in self._cpu:
                # A backend already there at the start counts from now; a new one from 0.
                self._cpu[pid] = [ticks if first else 0, ticks]
            self._cpu[pid][1] = ticks

    def cpu_start(self) -> None:
        self._cpu = {}
        self._sample(first=True)
        self._stop.clear()

        def run():
            while not self._stop.wait(0.2):
                with contextlib.suppress(Exception):
                    self._sample()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def cpu_stop(self) -> float:
        """CPU seconds of this database's backends since cpu_start (one that ended between
        two samples loses its last 0.2 s at most)."""
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        with contextlib.suppress(Exception):
            self._sample()
        return sum(last - first for first, last in self._cpu.values()) / TICKS

    def scalar(self, sql: str, params=()) -> int:
        return self.conn.execute(sql, params).fetchone()[0]


def delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before if k != "lsn"}


def database_work(pg: Postgres, before: dict, after: dict, cpu: float, n: int) -> dict:
    d = delta(before, after)
    ours, server = pg.wal(before["lsn"], after["lsn"])
    rows = d["inserted"] + d["updated"] + d["deleted"]
    return {
        "xacts_per": (d["commits"] + d["rollbacks"]) / n,
        "rows_per": rows / n,
        "inserted_per": d["inserted"] / n,
        "updated_per": d["updated"] / n,
        "deleted_per": d["deleted"] / n,
        "wal_per": ours / n if ours is not None else None,
        "server_wal_per": server / n,
        "pg_cpu_s": cpu,
        "per_pg_cpu_s": n / cpu if cpu > 0 else None,
    }


# --- one run -----------------------------------------------------------------------------------


def queue_child(n: int, endpoint: str) -> int:
    """(In a child process with the run's environment.) With n = 0: empty the tables and
    the broker, create the webhook if needed; else emit n events (100 per transaction)."""
    import django

    django.setup()
    import logging

    logging.getLogger("django-q").setLevel(logging.WARNING)
    from django_q.models import OrmQ

    from tests.bench.sections import broker_clear, emit_events, make_webhook
    from webhooks_app.models import Attempt, Delivery, Event, Webhook

    if n:
        emit_events("bench.drain", n)
        return 0
    Attempt.objects.all().delete()
    Delivery.objects.all().delete()
    Event.objects.all().delete()
    OrmQ.objects.all().delete()
    broker_clear()
    Webhook.objects.exclude(url=endpoint).delete()
    if not Webhook.objects.filter(url=endpoint).exists():
        make_webhook("clusters", endpoint, ["bench.drain"])
    return 0


def name_of_cluster() -> str:
    return os.environ.get("Q_CLUSTER_NAME", "webhooks")


def start_cluster(harness: ClustersHarness, broker: str, workers: int, log: Path) -> subprocess.Popen:
    env = {**harness.env(broker), "Q_WORKERS": str(workers)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(harness.pids_file, "a") as pids:
        pids.write(f"{proc.pid}\n")
    return proc


def stop_cluster(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the main process only, as django-q2 expects
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    Harness.kill_group(proc)


def one_run(harness: ClustersHarness, pg: Postgres, broker: str, layout: str, n: int, tag: str) -> dict:
    name = f"{broker}-{layout}-{tag}"
    endpoint = f"{harness.receiver_url}/ok/{name}"
    env = harness.env(broker)
    say(f"  {broker} ({layout}) {LAYOUTS[layout]}: queueing {n} deliveries")
    child = [sys.executable, "-m", "tests.bench.bench_clusters", "--endpoint", endpoint, "--queue"]
    subprocess.run([*child, "0"], cwd=ROOT, env=env, check=True, timeout=600)  # empty tables
    pg.wal_hold()
    before = pg.counters()
    pg.cpu_start()
    subprocess.run([*child, str(n)], cwd=ROOT, env=env, check=True, timeout=600 + n * 0.2)
    cpu = pg.cpu_stop()
    time.sleep(1.5)  # pg_stat_database is flushed by each backend at most once a second
    queued = pg.counters()
    emit = database_work(pg, before, queued, cpu, n)
    pg.wal_hold()
    pending = pg.scalar("SELECT count(*) FROM webhooks_app_delivery WHERE status = 'pending'")
    if pending != n:
        raise RuntimeError(f"{pending} deliveries queued, expected {n}")

    logs = [harness.workdir / f"qcluster-{name}-{i}.log" for i in range(len(LAYOUTS[layout]))]
    pg.cpu_start()
    started = time.time()
    procs = [start_cluster(harness, broker, w, log) for w, log in zip(LAYOUTS[layout], logs, strict=True)]
    cap = 120 + n / 20
    stats = {}
    try:
        while time.time() - started < cap:
            stats = requests.get(
                f"{harness.receiver_url}/stats", params={"names": name, "times": "0"}, timeout=30
            )
            stats = stats.json().get(name, {})
            if stats.get("delivered", 0) >= n:
                break
            time.sleep(0.1)
        while time.time() - started < cap:  # the last attempts written
            if pg.scalar("SELECT count(*) FROM webhooks_app_delivery WHERE status = 'succeeded'") >= n:
                break
            time.sleep(0.1)
        db_done = time.time()
    finally:
        for proc in procs:
            stop_cluster(proc)
    cpu = pg.cpu_stop()
    if broker == "redis":
        import redis

        tasks_left = redis.Redis.from_url(REDIS_URL).llen(f"django_q:{name_of_cluster()}:q")
    else:
        tasks_left = pg.scalar("SELECT count(*) FROM django_q_ormq")
    time.sleep(1.5)
    after = pg.counters()
    drain = database_work(pg, queued, after, cpu, n)
    pg.wal_release()
    delivered = stats.get("delivered", 0)
    row = {
        "broker": broker,
        "layout": f"({layout}) {len(LAYOUTS[layout])} x {LAYOUTS[layout][0]}",
        "deliveries": n,
        "received": delivered,
        "duplicates": stats.get("duplicates", 0),
        "seconds": (stats.get("last_new_at") or db_done) - started,
        "per_second": delivered / ((stats.get("last_new_at") or db_done) - started),
        "per_second_first": (
            delivered / (stats["last_new_at"] - stats["first_at"])
            if stats.get("last_new_at") and stats.get("first_at") and stats["last_new_at"] > stats["first_at"]
            else None
        ),
        "seconds_db_done": db_done - started,
        "tasks_left": tasks_left,
        "drain": drain,
        "emit": emit,
    }
    if delivered < n:
        row["error"] = f"only {delivered} of {n} received within {cap:.0f} s"
        say(f"    {row['error']}; the last cluster log ends with:\n{logs[-1].read_text()[-2000:]}")
    say(
        f"    {delivered} received in {row['seconds']:.1f} s: {row['per_second']:.0f}/s "
        f"({fmt(row['per_second_first'], '.0f')}/s from the first)"
    )
    return row


# --- output ------------------------------------------------------------------------------------


def render(results: dict) -> str:
    out = [machine_line(results["machine"]), f"load average at start: {results['load']}", ""]
    out.append("== Throughput: one cluster of 3 workers (a) against three clusters of 1 (b) ==")
    out.append("(N deliveries queued with no cluster, then the clusters started at once; deliveries/s from")
    out.append(" the start of the clusters to the last new receipt, and from the first receipt to the last;")
    out.append(
        " tasks left: wake-up tasks still in the broker when the last delivery was written, of N + wakes)"
    )
    header = f"{'run':<4} {'broker':<7} {'layout':<12} {'received':>8} {'dups':>5} {'s':>7} {'deliv/s':>8} "
    header += f"{'from 1st':>8} {'b/a':>5} {'b/a 1st':>7} {'tasks left':>10}"
    out.append(header)
    for row in results["rows"]:
        out.append(
            f"{row['run']:<4} {row['broker']:<7} {row['layout']:<12} {row['received']:>8,} "
            f"{row['duplicates']:>5} {row['seconds']:>7.1f} {row['per_second']:>8.0f} "
            f"{fmt(row['per_second_first'], '.0f'):>8} {fmt(row.get('ratio'), '.2f'):>5} "
            f"{fmt(row.get('ratio_first'), '.2f'):>7} {row['tasks_left']:>10,}"
        )
        if row.get("error"):
            out.append(f"     note: {row['error']}")
    out.append("")
    out.append("== PostgreSQL work per delivery ==")
    out.append("(pg_stat_database deltas of the benchmark database; WAL of its records and their commits,")
    out.append(" and of the whole server in brackets; CPU of the backends serving this database)")
    out.append(
        f"{'run':<4} {'broker':<7} {'phase':<18} {'xacts':>6} {'rows':>6} {'ins':>5} {'upd':>5} {'del':>5} "
        f"{'WAL B':>7} {'(server)':>9} {'PG CPU s':>8} {'deliv/PG CPU-s':>14}"
    )
    for row in results["rows"]:
        for phase, work in (("emit", row["emit"]), (f"drain {row['layout'][:3]}", row["drain"])):
            out.append(
                f"{row['run']:<4} {row['broker']:<7} {phase:<18} {work['xacts_per']:>6.2f} {work['rows_per']:>6.2f} "
                f"{work['inserted_per']:>5.2f} {work['updated_per']:>5.2f} {work['deleted_per']:>5.2f} "
                f"{fmt(work['wal_per'], ',.0f'):>7} {'(' + format(work['server_wal_per'], ',.0f') + ')':>9} "
                f"{work['pg_cpu_s']:>8.2f} {fmt(work['per_pg_cpu_s'], ',.0f'):>14}"
            )
    return "\n".join(out)


def derive(rows: list[dict]) -> None:
    by = {(r["run"], r["broker"], r["layout"][:3]): r for r in rows}
    for row in rows:
        if row["layout"].startswith("(b)"):
            base = by.get((row["run"], row["broker"], "(a)"))
            if base and base.get("per_second"):
                row["ratio"] = row["per_second"] / base["per_second"]
            if base and base.get("per_second_first") and row.get("per_second_first"):
                row["ratio_first"] = row["per_second_first"] / base["per_second_first"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=6000, help="N per run (default 6000)")
    parser.add_argument("--brokers", default="orm,redis", help="orm,redis (default both)")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole set (default 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--queue", type=int, help=argparse.SUPPRESS)  # internal: the queueing child
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.queue is not None:
        return queue_child(args.queue, args.endpoint)
    brokers = [b for b in args.brokers.split(",") if b]

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from tests.bench.webhooks_bench import parse_args

    harness = ClustersHarness(parse_args([]))
    results = {"machine": machine(), "load": os.getloadavg(), "rows": []}
    say(machine_line(results["machine"]))
    if results["machine"]["postgresql"] == "unreachable":
        say("PostgreSQL at 127.0.0.1:5432 is unreachable")
        return 1
    if "redis" in brokers and results["machine"]["redis"] == "unreachable":
        say("Redis at 127.0.0.1:6379 is unreachable: the Redis broker is skipped")
        brokers.remove("redis")
    started = time.time()
    pg = None
    try:
        harness.postgres_recreate()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=harness.env("orm"), check=True
        )
        harness.start_receiver()
        pg = Postgres()
        for run in range(1, args.runs + 1):
            for broker in brokers:
                for layout in LAYOUTS:
                    row = one_run(harness, pg, broker, layout, args.deliveries, tag=str(run))
                    results["rows"].append({"run": run, **row})
    finally:
        if pg is not None:
            with contextlib.suppress(Exception):
                pg.wal_release()
                pg.conn.close()
        harness.close()
    derive(results["rows"])
    results["seconds"] = round(time.time() - started, 1)
    print(render(results))
    print(f"\n(total {results['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
