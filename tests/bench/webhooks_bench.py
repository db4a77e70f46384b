"""Benchmark of webhooks_app's delivery and emit paths (issue 8); prints numbers, asserts nothing.

    python -m tests.bench.webhooks_bench                    # everything, ~20 minutes on 2 cores
    python -m tests.bench.webhooks_bench --quick            # counts 10x smaller, a few minutes
    python -m tests.bench.webhooks_bench --db sqlite --broker orm --sections 1,2 --json out.json

It sets up everything itself: a receiver in its own process (uvicorn serving
tests/bench/receiver_app.py on 127.0.0.1 and a free port), its own database (a
SQLite file in a temporary folder, and/or the PostgreSQL database webhooks_bench
at 127.0.0.1:5432, created and dropped), its own Redis database (db 13 at
127.0.0.1:6379, flushed) and real ``manage.py qcluster`` subprocesses with the
settings module tests/bench/settings.py. Each section runs, per database and
broker, in a child process of this one (``--job``) that returns its rows as JSON;
the tables are printed at the end, one per section, after a line describing the
machine. Every wait is bounded; subprocesses and temporary files are removed at
the end, also on Ctrl-C.

Sections:
 1. plain loop: P processes of ``requests.Session().post`` with the app's envelope (the limit);
 2. drain: N deliveries queued with no cluster, then a qcluster with P workers;
 3. emit overhead: ``Contact.objects.create()`` unwatched, then watched with 0/1/10/100 webhooks;
 4. commit-to-receipt latency at light load (a save every 20 ms);
 5. isolation: a healthy webhook alone, then next to one whose receiver hangs 10 s;
 6. fan-out: one event to many webhooks;
 7. a receiver failing every first try (retry schedule [1]*5, no jitter, 2 workers);
 8. worker memory (RSS) after a few and after many deliveries by one cluster (one configuration:
    the last selected, PostgreSQL + Redis by default);
 9. unwatched model: what instantiating and saving a model the app does not watch costs with the
    app's receivers connected vs disconnected, in one process (per database, first broker only).
"""

import argparse
import contextlib
import fcntl
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import requests

from tests.bench.common import POSTGRES_ADMIN_URL, POSTGRES_DB, REDIS_DB

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {
    1: "Plain loop (the limit)",
    2: "Drain",
    3: "Emit overhead",
    4: "Commit-to-receipt latency at light load",
    5: "Isolation",
    6: "Fan-out",
    7: "Failing first try",
    8: "Worker memory",
    9: "Unwatched model",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default="1,2,3,4,5,6,7,8,9", help="comma-separated (default: all)")
    parser.add_argument("--quick", action="store_true", help="every count about 10x smaller")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--broker", choices=("orm", "redis", "both"), default="both")
    parser.add_argument("--workers", type=int, default=2, help="P: loop processes and cluster workers (2)")
    parser.add_argument("--deliveries", type=int, help="section 2's N (default 5000, quick 1000)")
    parser.add_argument("--loop-requests", type=int, help="section 1's requests (default 10000, quick 1000)")
    parser.add_argument("--reps", type=int, help="section 3's K per variant (default 300, quick 30)")
    parser.add_argument(
        "--cap-scale",
        type=float,
        default=1.0,
        help="multiply every time limit by this (default 1; e.g. 3 on a slow machine)",
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=1800,
        help="seconds to wait for another run that uses PostgreSQL or Redis to end (default 1800)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: run one child job
    args = parser.parse_args(argv)
    try:
        args.sections = sorted({int(s) for s in args.sections.split(",") if s.strip()})
    except ValueError:
        parser.error("--sections takes numbers, e.g. 1,2,5")
    if not args.sections or not set(args.sections) <= set(SECTIONS):
        parser.error(f"--sections: choose among {', '.join(map(str, SECTIONS))}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def sizes(args) -> dict:
    """Counts and time limits (seconds) of every section; --quick divides counts by about 10.

    A wait that reaches its limit ends the section's run with the figures so far and a note.
    """
    q, scale = args.quick, args.cap_scale
    drain = args.deliveries or (1_000 if q else 5_000)
    isolation = 200 if q else 2_000
    return {
        "loop_requests": args.loop_requests or (1_000 if q else 10_000),
        "drain": drain,
        "drain_cap": (60 + drain / 25) * scale,
        "emit_reps": args.reps or (30 if q else 300),
        "emit_cap": (15 if q else 60) * scale,
        "latency_saves": 50 if q else 200,
        "isolation": isolation,
        "isolation_cap": (60 + isolation / 20) * scale,
        "fanout": 200 if q else 1_000,
        "fanout_cap": (60 if q else 180) * scale,
        "retry_events": 200 if q else 1_000,
        "retry_cap": (60 if q else 300) * scale,
        "memory_first": 1_000,
        "memory_total": 10_000 if q else 100_000,
        "memory_cap": (120 if q else 600) * scale,
        "hang_cap_min": (10 if q else 15) * scale,
        "unwatched_instances": 20_000 if q else 200_000,
        "unwatched_saves": 500 if q else 5_000,
        "unwatched_rounds": 40 if q else 100,
    }


# --- the machine ------------------------------------------------------------------------------


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def redis_client():
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)


def machine() -> dict:
    import django

    info = {"nproc": len(os.sched_getaffinity(0)), "cpu": "?", "memory_gib": None}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    info["postgresql"] = "unreachable"
    if postgres_up():
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=5) as conn:
                info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    info["redis"] = "unreachable"
    with contextlib.suppress(Exception):
        info["redis"] = redis_client().info("server")["redis_version"]
    info["python"] = platform.python_version()
    info["django"] = django.get_version()
    return info


def machine_line(info: dict) -> str:
    return (
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM; "
        f"PostgreSQL {info['postgresql']}; Redis {info['redis']}; "
        f"Python {info['python']}; Django {info['django']}"
    )


# --- processes of the harness -----------------------------------------------------------------


class Harness:
    """The receiver, the child jobs and the databases of one run; close() removes them all."""

    def __init__(self, args):
        self.args = args
        self.size = sizes(args)
        self.workdir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
        self.pids_file = self.workdir / "cluster-pids"
        self.pids_file.touch()
        self.receiver_proc: subprocess.Popen | None = None
        self.receiver_url = ""
        self.children: list[subprocess.Popen] = []
        self.postgres_created = False
        self.jobs = 0
        self.lock = None  # held while this run uses PostgreSQL webhooks_bench or Redis db 13

    # The receiver.
    def start_receiver(self) -> None:
        for _ in range(3):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.receiver_proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "tests.bench.receiver_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--loop",
                    "asyncio",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=self.base_env(),
                start_new_session=True,
            )
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 20
            while time.time() < deadline and self.receiver_proc.poll() is None:
                try:
                    requests.get(f"{url}/stats", timeout=1).raise_for_status()
                    self.receiver_url = url
                    return
                except requests.RequestException:
                    time.sleep(0.1)
            self.kill_group(self.receiver_proc)
        raise RuntimeError("the receiver (uvicorn) did not start")

    @staticmethod
    def kill_group(proc: subprocess.Popen | None, grace: float = 0.0) -> None:
        if proc is None or proc.returncode is not None:
            return
        if grace:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)

    def kill_leftover_clusters(self) -> None:
        """SIGKILL any process still in the group of a qcluster a job started (a job killed mid-run)."""
        groups = {int(line) for line in self.pids_file.read_text().split() if line.strip().isdigit()}
        if not groups:
            return
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            if int(fields[2]) in groups and b"qcluster" in cmdline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry), signal.SIGKILL)

    def base_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE_"))}
        for name in ("DATABASE_URL", "REDIS_URL", "WEBHOOKS_BENCH_OVERRIDES", "TEST_DATABASE_URL"):
            env.pop(name, None)
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="tests.bench.settings",
            DEBUG="0",
        )
        return env

    # Databases.
    def database_url(self, db: str) -> str:
        if db == "sqlite":
            return f"sqlite:///{self.workdir / 'bench.sqlite3'}"
        return f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DB}"

    def postgres_recreate(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{POSTGRES_DB}"')
        self.postgres_created = True

    def postgres_drop(self) -> None:
        if not self.postgres_created:
            return
        import psycopg

        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)')
            self.postgres_created = False
        except Exception as exc:  # noqa: BLE001 - reported, never hides the results
            print(f"could not drop the database {POSTGRES_DB}: {exc}", file=sys.stderr)

    # Child jobs.
    def job(self, kind: str, config: dict, timeout: float, overrides: dict | None = None, **params) -> list:
        """Run one job in a child process; its rows, each with the configuration columns first."""
        self.jobs += 1
        label = f"{self.jobs:02d}-{kind}-{config['db']}-{config['broker']}"
        spec = {
            "kind": kind,
            "label": label,
            "receiver": self.receiver_url,
            "workdir": str(self.workdir),
            "pids_file": str(self.pids_file),
            "workers": self.args.workers,
            "result": str(self.workdir / f"{label}.result.json"),
            **params,
        }
        spec_path = self.workdir / f"{label}.job.json"
        spec_path.write_text(json.dumps(spec))
        env = self.base_env()
        env["DATABASE_URL"] = self.database_url(config["db"])
        if config["broker"] == "redis":
            env["REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
        env["WEBHOOKS_BENCH_OVERRIDES"] = json.dumps(overrides or {})
        detail = ", ".join(f"{k}={v}" for k, v in params.items() if k != "time_cap")
        print(f"  [{label}] {detail}", file=sys.stderr, flush=True)
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.webhooks_bench", "--job", str(spec_path)],
            cwd=ROOT,
            env=env,
            stdout=sys.stderr,
            start_new_session=True,
        )
        self.children.append(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  [{label}] over its {timeout:.0f} s limit: stopped", file=sys.stderr)
        finally:
            self.kill_group(proc, grace=20)  # SIGTERM lets the job stop its cluster first
            self.children.remove(proc)
            self.kill_leftover_clusters()
        try:
            result = json.loads(Path(spec["result"]).read_text())
        except (OSError, ValueError):
            result = {"error": f"the job ended (exit code {proc.returncode}) without a result"}
        print(f"  [{label}] {time.time() - started:.0f} s", file=sys.stderr, flush=True)
        if result.get("error"):
            print(f"  [{label}] failed: {result['error']}", file=sys.stderr)
            return [{**config, "error": result["error"].strip().splitlines()[-1]}]
        return [{**config, **row} for row in result["rows"]]

    def close(self) -> None:
        for proc in list(self.children):
            self.kill_group(proc, grace=20)
        self.kill_leftover_clusters()
        self.kill_group(self.receiver_proc, grace=5)
        self.postgres_drop()
        if self.lock is not None:
            self.lock.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- section 1: the plain loop ----------------------------------------------------------------


def plain_loop(harness: Harness, measured: str) -> dict:
    processes, total = harness.args.workers, harness.size["loop_requests"]
    each = max(1, total // processes)
    requests.post(f"{harness.receiver_url}/reset", timeout=10).raise_for_status()
    start_at = time.time() + 2.0  # every process imported and waiting by then
    url = f"{harness.receiver_url}/ok/loop"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.plain_loop", url, str(each), str(start_at)],
            cwd=ROOT,
            env=harness.base_env(),
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(processes)
    ]
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=120 + each / 50)
            outputs.append(json.loads(out))
    finally:
        for proc in procs:
            Harness.kill_group(proc)
    sent = sum(o["n"] for o in outputs)
    seconds = max(o["end"] for o in outputs) - min(o["start"] for o in outputs)
    received = requests.get(f"{harness.receiver_url}/stats?names=loop&times=0", timeout=10).json()
    return {
        "measured": measured,
        "processes": processes,
        "requests": sent,
        "ok": sum(o["ok"] for o in outputs),
        "received": received.get("loop", {}).get("delivered", 0),
        "seconds": seconds,
        "per_second": sent / seconds if seconds > 0 else None,
    }


# --- the run ----------------------------------------------------------------------------------


LOCK_PATH = Path(tempfile.gettempdir()) / "webhooks-bench.lock"


def lock_shared_resources(wait: float):
    """One run at a time may use the PostgreSQL database webhooks_bench and Redis db 13.

    A second run would drop the first one's database and flush its queue. The lock
    (flock on a file in the temporary folder) goes with this process; a run on
    SQLite and the ORM broker only (the smoke test) touches neither and takes none.
    """
    handle = open(LOCK_PATH, "a+")  # noqa: SIM115 - held open for the life of the run
    deadline, told = time.time() + wait, 0.0
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.time() >= deadline:
                handle.close()
                raise SystemExit(
                    f"another webhooks_bench run holds {LOCK_PATH} (it uses PostgreSQL {POSTGRES_DB} "
                    f"and Redis db {REDIS_DB}); gave up after {wait:.0f} s"
                ) from None
            if time.time() - told >= 30:
                told = time.time()
                holder = Path(LOCK_PATH).read_text().strip() or "?"
                print(f"waiting for another webhooks_bench run to end (pid {holder})", file=sys.stderr)
            time.sleep(1)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def run(args, harness: Harness) -> dict:
    size = harness.size
    results: dict = {"machine": machine(), "args": vars(args), "sizes": size, "sections": {}}
    print(machine_line(results["machine"]), file=sys.stderr, flush=True)
    sections = results["sections"]

    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    notes = results["notes"] = []
    if "postgres" in dbs and results["machine"]["postgresql"] == "unreachable":
        notes.append("PostgreSQL at 127.0.0.1:5432 is unreachable: its configurations were skipped")
        dbs.remove("postgres")
    if "redis" in brokers and results["machine"]["redis"] == "unreachable":
        notes.append("Redis at 127.0.0.1:6379 is unreachable: its configurations were skipped")
        brokers.remove("redis")
    later = [s for s in args.sections if s >= 2]
    if later and ("postgres" in dbs or "redis" in brokers):
        harness.lock = lock_shared_resources(args.lock_wait)

    harness.start_receiver()
    if 1 in args.sections or 2 in args.sections:
        print("section 1: plain loop", file=sys.stderr, flush=True)
        sections["1"] = [plain_loop(harness, "at the start")]

    for db in dbs if later else []:
        if db == "postgres":
            harness.postgres_recreate()
        migrated = harness.job("migrate", {"db": db, "broker": "orm"}, timeout=600)
        if migrated and migrated[0].get("error"):
            notes.append(f"{db}: migrate failed: {migrated[0]['error']}")
            continue
        for broker in brokers:
            config = {"db": db, "broker": broker}
            print(f"== {db} / {broker} ==", file=sys.stderr, flush=True)
            for section in later:
                if section == 8 and config != {"db": dbs[-1], "broker": brokers[-1]}:
                    continue  # one configuration: 100,000 deliveries take minutes each
                if section == 9 and broker != brokers[0]:
                    continue  # in-process signal dispatch: the broker plays no part
                if section == 2:
                    # The limit again, right before the drain: the machine's load drifts
                    # over a long run, and the ratio compares figures taken together.
                    loop = plain_loop(harness, f"before the {db}/{broker} drain")
                    sections["1"].append(loop)
                rows = section_rows(harness, section, config)
                if section == 2:
                    for row in rows:
                        row["loop_per_second"] = loop["per_second"]
                sections.setdefault(str(section), []).extend(rows)
        if db == "postgres":
            harness.postgres_drop()
    derive(results)
    return results


def section_rows(harness: Harness, section: int, config: dict) -> list[dict]:
    size, job = harness.size, harness.job
    if section == 2:
        n = size["drain"]
        return job(
            "drain", config, timeout=size["drain_cap"] + 600 + n * 0.1, n=n, time_cap=size["drain_cap"]
        )
    if section == 3:
        reps, cap = size["emit_reps"], size["emit_cap"]
        timeout = 10 * cap + 600
        plain = job(
            "emit", config, timeout, overrides={"MODELS": {}}, variant="unwatched", reps=reps, time_cap=cap
        )
        watched = job("emit", config, timeout, variant="watched", reps=reps, time_cap=cap)
        return plain + watched
    if section == 4:
        return job("latency", config, timeout=600, n=size["latency_saves"])
    if section == 5:
        n = size["isolation"]
        cap = size["isolation_cap"]
        alone = job("isolation", config, timeout=cap + 600 + n * 0.1, variant="alone", n=n, time_cap=cap)
        # Next to the hanging receiver, A gets three times what it took alone (at least
        # 10-15 s): by then its ratio is under 0.33 (target 0.8), and its rate so far is shown.
        took = alone[0].get("seconds_from_start") if alone else None
        cap = max(size["hang_cap_min"], 3 * took) if took else 120.0
        hang = job("isolation", config, timeout=cap + 600 + n * 0.1, variant="hang", n=n, time_cap=cap)
        return alone + hang
    if section == 6:
        m, cap = size["fanout"], size["fanout_cap"]
        return job("fanout", config, timeout=cap + 600 + m * 0.5, n=m, time_cap=cap)
    if section == 7:
        n, cap = size["retry_events"], size["retry_cap"]
        overrides = {"RETRY_SCHEDULE": [1, 1, 1, 1, 1], "RETRY_JITTER": 0}
        spec = {"n": n, "time_cap": cap, "workers": 2}
        return job("retry", config, timeout=cap + 600 + n * 0.1, overrides=overrides, **spec)
    if section == 8:
        cap = size["memory_cap"]
        spec = {"first": size["memory_first"], "n": size["memory_total"], "time_cap": cap}
        return job("memory", config, timeout=cap + 600, **spec)
    if section == 9:
        spec = {
            "instances": size["unwatched_instances"],
            "saves": size["unwatched_saves"],
            "rounds": size["unwatched_rounds"],
            "target": UNWATCHED_TARGET,
        }
        return job("unwatched", config, timeout=600, **spec)
    raise ValueError(section)


# Issue 17: a host pays nothing for the models the app does not watch (within noise).
UNWATCHED_TARGET = 1.05


def derive(results: dict) -> None:
    """Ratios that compare rows of different jobs."""
    sections = results["sections"]
    for row in sections.get("2", []):
        loop = row.get("loop_per_second")
        row["ratio"] = row["per_second"] / loop if loop and row.get("per_second") else None
        after = row.get("per_second_after_first")
        row["ratio_after_first"] = after / loop if loop and after else None
    plain = {
        (r["db"], r["broker"], r.get("mode")): r
        for r in sections.get("3", [])
        if r.get("webhooks") == "unwatched"
    }
    for row in sections.get("3", []):
        base = plain.get((row["db"], row["broker"], row.get("mode")))
        if base and row.get("median_us") and base.get("median_us"):
            row["ratio"] = row["median_us"] / base["median_us"]
            row["extra_queries"] = row["queries"] - base["queries"]
    alone = {(r["db"], r["broker"]): r for r in sections.get("5", []) if r.get("variant") == "alone"}
    for row in sections.get("5", []):
        base = alone.get((row["db"], row["broker"]))
        if base and row.get("per_second") and base.get("per_second"):
            row["ratio"] = row["per_second"] / base["per_second"]


# --- tables -----------------------------------------------------------------------------------


def fmt(value, spec: str = "") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and spec:
        return format(value, spec)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


COLUMNS = {
    1: [
        ("measured", "measured", ""),
        ("processes", "processes", ""),
        ("requests", "requests", ""),
        ("received", "received", ""),
        ("seconds", "seconds", ".2f"),
        ("requests/s", "per_second", ",.0f"),
    ],
    2: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("workers", "workers", ""),
        ("deliveries", "deliveries", ""),
        ("received", "received", ""),
        ("loop req/s", "loop_per_second", ",.0f"),
        ("s from start", "seconds_from_start", ".2f"),
        ("deliveries/s", "per_second", ",.0f"),
        ("ratio", "ratio", ".2f"),
        ("s from 1st", "seconds_after_first", ".2f"),
        ("deliv/s from 1st", "per_second_after_first", ",.0f"),
        ("ratio from 1st", "ratio_after_first", ".2f"),
        ("s to DB done", "seconds_db_done", ".2f"),
        ("dups", "duplicates", ""),
    ],
    3: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("webhooks", "webhooks", ""),
        ("mode", "mode", ""),
        ("reps", "reps", ""),
        ("median us", "median_us", ",.0f"),
        ("p90 us", "p90_us", ",.0f"),
        ("ratio", "ratio", ".2f"),
        ("queries/op", "queries", ".1f"),
        ("extra queries", "extra_queries", "+.1f"),
    ],
    4: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("saves", "saves", ""),
        ("received", "received", ""),
        ("p50 ms", "p50_ms", ".1f"),
        ("p90 ms", "p90_ms", ".1f"),
        ("p99 ms", "p99_ms", ".1f"),
        ("max ms", "max_ms", ".1f"),
    ],
    5: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("webhook A", "variant", ""),
        ("deliveries", "deliveries", ""),
        ("received", "received", ""),
        ("finished", "finished", ""),
        ("s", "seconds", ".2f"),
        ("deliveries/s", "per_second", ",.0f"),
        ("ratio", "ratio", ".2f"),
        ("B requests", "b_requests", ""),
    ],
    6: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("webhooks", "webhooks", ""),
        ("received", "received", ""),
        ("first ms", "first_ms", ",.0f"),
        ("s to all", "seconds", ".2f"),
    ],
    7: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("workers", "workers", ""),
        ("deliveries", "deliveries", ""),
        ("s to all succeeded", "seconds", ".1f"),
        ("succeeded", "succeeded", ""),
        ("pending", "pending", ""),
        ("failed", "failed", ""),
        ("500s sent", "first_try_failures", ""),
        ("dups", "duplicates", ""),
        ("lost (not received)", "not_received", ""),
    ],
    8: [
        ("db", "db", ""),
        ("broker", "broker", ""),
        ("process", "role", ""),
        ("pid", "pid_first", "d"),
        ("pid later", "pid_last", "d"),
        ("deliveries", "deliveries_first", ""),
        ("RSS MB", "rss_mb_first", ".1f"),
        ("deliveries later", "deliveries_last", ""),
        ("RSS MB later", "rss_mb_last", ".1f"),
        ("change %", "change_pct", "+.1f"),
    ],
    9: [
        ("db", "db", ""),
        ("operation", "operation", ""),
        ("ops", "ops", ""),
        ("app receivers", "receivers", ""),
        ("connected us/op", "connected_us", ".2f"),
        ("stand-in us/op", "stand_in_us", ".2f"),
        ("disconnected us/op", "disconnected_us", ".2f"),
        ("ratio", "ratio", ".3f"),
        ("target", "target", ""),
        ("met", "met", ""),
        ("app only", "app_ratio", ".3f"),
    ],
}

DESCRIPTIONS = {
    1: "P processes, each a requests.Session().post loop of the app's envelope to /ok/loop",
    2: "N deliveries queued with no cluster, then a qcluster with P workers; ratio = deliveries/s "
    "over the plain loop's requests/s measured right before (section 1); 'from 1st' starts the clock "
    "at the first receipt",
    3: "Contact.objects.create() in the harness process, real broker, cluster stopped; ratio and "
    "extra queries against the unwatched save of the same mode",
    4: "cluster running, a Contact save every 20 ms in its own transaction; commit to first receipt",
    5: "N events to A (/ok/a) alone, then the same with B (/hang/b, 10 s per request) subscribed too; "
    "clock from the first request of either webhook; next to B, A gets 3x its time alone, then its rate "
    "so far counts; ratio = A's deliveries/s over alone",
    6: "one event to many webhooks (all to /ok/fan), cluster running; from the commit",
    7: "N events x 2 webhooks, one to /ok/x and one to /fail-first/y; RETRY_SCHEDULE [1]*5, "
    "RETRY_JITTER 0; lost = expected unique webhook-ids minus those answered 200 (in an unfinished "
    "run, not yet received)",
    8: "VmRSS of the cluster's processes after a few and after many deliveries (events to 100 webhooks) "
    "drained by one running cluster; on the last configuration selected only",
    9: "a model the app does not watch, in one process: Permission(...) instantiations, and "
    "Group(...).save() inserts (in a transaction rolled back per round), with webhooks_app's "
    "model-signal receivers connected (as installed), replaced by a do-nothing function for the same "
    "senders (stand-in), and taken out of Django's receiver lists (disconnected); ratio = connected over "
    "disconnected (the target), app only = connected over stand-in; "
    "alternating rounds (100, --quick 40), the best round of each compared; 'app receivers' = webhooks_app receivers connected to the "
    "model's signals (pre/post init, save, delete)",
}


def table(section: int, rows: list[dict]) -> str:
    columns = COLUMNS[section]
    header = [title for title, _, _ in columns]
    body = [[fmt(row.get(key), spec) for _, key, spec in columns] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in body
    ]
    errors = sorted(
        {f"{r.get('db', '')} {r.get('broker', '')}: {r['error']}" for r in rows if r.get("error")}
    )
    lines += [f"  note: {e.strip()}" for e in errors]
    lines += [f"  note: {n}" for n in dict.fromkeys(r["note"] for r in rows if r.get("note"))]
    return "\n".join(lines)


def render(results: dict, selected: list[int]) -> str:
    out = [machine_line(results["machine"])]
    out += [f"note: {n}" for n in results.get("notes", [])]
    for section in selected:
        rows = results["sections"].get(str(section), [])
        out.append("")
        out.append(f"== {section}. {SECTIONS[section]} ==")
        out.append(f"({DESCRIPTIONS[section]})")
        out.append(table(section, rows) if rows else "(no rows)")
    return "\n".join(out)


# --- entry points -----------------------------------------------------------------------------


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def child(spec_path: str) -> int:
    """Run one job (a section for one configuration) and write its rows as JSON."""
    signal.signal(signal.SIGTERM, _terminate)
    spec = json.loads(Path(spec_path).read_text())
    from tests.bench.sections import run_job

    try:
        out = {"rows": run_job(spec)}
        code = 0
    except BaseException:  # noqa: BLE001 - reported to the harness, which goes on
        out = {"error": traceback.format_exc()}
        code = 1
    Path(spec["result"]).write_text(json.dumps(out, default=str))
    return code


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.job:
        return child(args.job)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.time()
    harness = Harness(args)
    try:
        results = run(args, harness)
    finally:
        harness.close()
    results["seconds"] = round(time.time() - started, 1)
    print(render(results, args.sections))
    print(f"\n(total {results['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
