"""The benchmark's child jobs of issue 19: end to end, the API, a burst of emits, a profile.

Each job runs like those of sections.py (a process of its own with its
configuration's environment, see there) and returns its rows:

- ``e2e`` (section 10): a cluster running, N watched ``Contact`` saves as fast as one
  process saves them, each in autocommit; deliveries/s from the first save to the
  last receipt;
- ``api`` (section 11): ``POST /api/events/`` in process (Django's test client, the
  whole middleware stack, token authentication): ms and queries per request, next to
  the minimal DRF view of tests/bench/urls.py; a list of 100 events when the API
  takes one;
- ``http`` (section 12): the same two endpoints over HTTP, served by gunicorn with the
  shipped config/gunicorn.conf.py (and variants), 16 and 32 clients of a load
  generator, a qcluster delivering beside it;
- ``burst`` (section 13): N emits, each in its own transaction, with no cluster; the
  wake-ups queued after it, then a cluster drains them: drain tasks run and how many
  claimed nothing (counted by tests/bench/apps.py from django-q2's post_execute);
- ``profile`` (section 14): py-spy (``--gil``) on a qcluster during a drain; the top
  entries by own time over the worker processes' samples.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter as Tally
from pathlib import Path

import requests

from tests.bench import loadgen
from tests.bench.common import EVENT_CONTEXT, EVENT_DATA, percentile
from tests.bench.sections import (
    POLL,
    Cluster,
    broker_clear,
    broker_is_redis,
    counter,
    elapsed,
    emit_events,
    make_webhook,
    rate,
    report_stall,
    reset_state,
    say,
)

ROOT = Path(__file__).resolve().parents[2]


def api_token() -> str:
    """A superuser of the benchmark and its DRF token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-19")
    return Token.objects.create(user=user).key


def event_body(event_id: int = 0) -> dict:
    return {"event_type": "bench.api", "data": {**EVENT_DATA, "id": event_id}, "context": {"bench": True}}


BATCH = 100  # events per request of the list form (issue 19: up to 100)


def queue_length() -> int:
    """Tasks waiting in django-q2's queue: the ORM broker's rows, or the Redis lists of
    the benchmark's database (every key there is the benchmark's own)."""
    if broker_is_redis():
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        return sum(client.llen(key) for key in client.scan_iter("django_q:*:q"))
    from django_q.models import OrmQ

    return OrmQ.objects.count()


# --- section 10: end to end -------------------------------------------------------------------


def section_e2e(job, receiver) -> list[dict]:
    from config.contacts.models import Contact

    n = job["n"]
    reset_state(receiver)
    make_webhook("e2e", receiver.endpoint("ok", "e2e"), ["contact.created"])
    cluster = Cluster(job, job["workers"]).start()
    error = ""
    try:
        Contact.objects.create(name="Warm-up")
        _, ready = receiver.wait(lambda s: counter(s, "e2e")["delivered"] >= 1, ["e2e"], timeout=90)
        if not ready:
            error = report_stall(cluster, "the warm-up save was not received within 90 s")
            return [{"saves": n, "received": 0, "error": error}]
        deadline = time.time() + job["time_cap"]
        started = time.time()
        saved = 0
        for i in range(n):
            Contact.objects.create(name=f"End to end {i}", email=f"e2e{i}@example.com", accepts_email=True)
            saved += 1
            if time.time() > deadline:
                break
        saved_at = time.time()
        left = max(deadline - time.time(), 10.0)
        stats, done = receiver.wait(
            lambda s: counter(s, "e2e")["delivered"] >= saved + 1, ["e2e"], timeout=left, interval=POLL
        )
        if not done:
            error = report_stall(
                cluster, f"{counter(stats, 'e2e')['delivered'] - 1} of {saved} received in time"
            )
    finally:
        cluster.stop()
    e2e = counter(stats, "e2e")
    received = e2e["delivered"] - 1
    ended = e2e["last_new_at"] if done else time.time()
    seconds = elapsed(ended, started)
    return [
        {
            "workers": job["workers"],
            "saves": saved,
            "received": received,
            "duplicates": e2e["duplicates"],
            "save_seconds": saved_at - started,
            "saves_per_second": rate(saved, saved_at - started),
            "seconds": seconds,
            "per_second": rate(received, seconds),
            **cluster.drains(),
            "error": error,
        }
    ]


# --- section 11: POST /api/events/ in process -------------------------------------------------


def _timed_requests(post, reps: int, time_cap: float) -> tuple[list[float], int]:
    """Seconds of each call of post() (after a warm-up), and the queries of five more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(max(5, reps // 10)):
        post()
    samples = []
    deadline = time.time() + time_cap
    for _ in range(reps):
        started = time.perf_counter()
        post()
        samples.append(time.perf_counter() - started)
        if time.time() > deadline:
            break
    counted = 5
    with CaptureQueriesContext(connection) as queries:
        for _ in range(counted):
            post()
    return samples, len(queries.captured_queries) / counted


def section_api(job, receiver) -> list[dict]:
    from django.test import Client

    reset_state(receiver)
    make_webhook("api", receiver.endpoint("ok", "api"), ["bench.api"])
    client = Client(headers={"host": "127.0.0.1", "authorization": f"Token {api_token()}"})
    serial = iter(range(10**9))

    def poster(path: str, batch: int = 0):
        def post():
            body = [event_body(next(serial)) for _ in range(batch)] if batch else event_body(next(serial))
            response = client.post(path, json.dumps(body), content_type="application/json")
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.content[:300]!r}")

        return post

    rows = []
    cases = [
        ("POST /bench/minimal/ (one row)", "/bench/minimal/", 0),
        ("POST /api/events/", "/api/events/", 0),
        (f"POST /api/events/ with a list of {BATCH}", "/api/events/", BATCH),
    ]
    for name, path, batch in cases:
        if batch:
            probe = client.post(
                path, json.dumps([event_body(-1 - i) for i in range(batch)]), content_type="application/json"
            )
            if probe.status_code not in (200, 201):
                rows.append(
                    {
                        "endpoint": name,
                        "error": f"not supported: HTTP {probe.status_code} "
                        f"{probe.content[:120].decode(errors='replace')}",
                    }
                )
                continue
        reps = job["reps"] if not batch else max(5, job["reps"] // 10)
        samples, queries = _timed_requests(poster(path, batch), reps, job["time_cap"])
        broker_clear()  # the wake-ups the emits queued (no cluster runs here)
        median = statistics.median(samples)
        rows.append(
            {
                "endpoint": name,
                "reps": len(samples),
                "median_ms": median * 1000,
                "p90_ms": percentile(samples, 0.9) * 1000,
                "queries": queries,
                "per_second": 1 / median,
                "events_per_second": (batch or (1 if "events" in path else 0)) / median or None,
            }
        )
        say(f"{name}: {median * 1000:.2f} ms, {queries:.1f} queries")
    return rows


# --- section 12: POST /api/events/ over HTTP (gunicorn) -----------------------------------------


GUNICORN_VARIANTS = {
    "shipped": [],
    "sync, 2 workers": ["--workers", "2"],
    "gthread, 2 workers x 8 threads": ["--worker-class", "gthread", "--workers", "2", "--threads", "8"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn serving config.wsgi with config/gunicorn.conf.py (and extra arguments), in the
    job's process group (so the harness kills it with the job)."""

    def __init__(self, job: dict, extra: list[str], name: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.log_path = Path(job["workdir"]) / f"gunicorn-{job['label']}-{name.replace(' ', '_')}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, token: str) -> "Gunicorn":
        env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-c",
            "config/gunicorn.conf.py",
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        session = requests.Session()
        while time.time() < deadline and self.proc.poll() is None:
            with contextlib.suppress(requests.RequestException):
                response = session.post(
                    f"{self.url}/bench/minimal/", json=event_body(), headers=auth(token), timeout=5
                )
                if response.status_code == 201:
                    return self
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within 60 s; its log ends with:\n{tail}")

    def workers(self) -> int:
        """The worker processes of the master (children of its pid)."""
        if self.proc is None:
            return 0
        count = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    raw = Path(f"/proc/{entry}/stat").read_text()
                    if int(raw[raw.rindex(")") + 2 :].split()[1]) == self.proc.pid:
                        count += 1
        return count

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(25)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def auth(token: str) -> dict:
    return {"Authorization": f"Token {token}"}


def section_http(job, receiver) -> list[dict]:
    from webhooks_app.models import Event

    reset_state(receiver)
    make_webhook("api", receiver.endpoint("ok", "api"), ["bench.api"])
    token = api_token()
    single = json.dumps(event_body(), separators=(",", ":")).encode()
    batch = json.dumps([event_body(i) for i in range(BATCH)], separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **auth(token)}
    cluster = Cluster(job, job["workers"]).start()  # delivers the API's events beside the server
    rows = []
    try:
        for name in job["variants"]:
            server = Gunicorn(job, GUNICORN_VARIANTS[name], name).start(token)
            try:
                workers = server.workers()
                say(f"gunicorn ({name}): {workers} workers at {server.url}")
                for clients in job["clients"]:
                    # The reference first, then the API, at each concurrency: both see the same drift.
                    for endpoint, path in (
                        ("minimal DRF view", "/bench/minimal/"),
                        ("/api/events/", "/api/events/"),
                    ):
                        before = Event.objects.count()
                        result = loadgen.run(
                            server.url + path,
                            seconds=job["seconds"],
                            connections=clients,
                            body=single,
                            headers=headers,
                            tool=job.get("load_tool", "auto"),
                        )
                        emitted = Event.objects.count() - before
                        rows.append(
                            {
                                "variant": name,
                                "workers": workers,
                                "endpoint": endpoint,
                                "clients": clients,
                                **result,
                                "events_written": emitted if "events" in path else None,
                                "events_per_second": result["per_second"] if "events" in path else None,
                            }
                        )
                        say(
                            f"  {endpoint}, {clients} clients: {result['per_second']:.0f}/s ({result['tool']})"
                        )
                probe = requests.post(server.url + "/api/events/", data=batch, headers=headers, timeout=60)
                if probe.status_code in (200, 201):
                    clients = job["clients"][-1]
                    result = loadgen.run(
                        server.url + "/api/events/",
                        seconds=job["seconds"],
                        connections=clients,
                        body=batch,
                        headers=headers,
                        tool=job.get("load_tool", "auto"),
                    )
                    rows.append(
                        {
                            "variant": name,
                            "workers": workers,
                            "endpoint": f"/api/events/, lists of {BATCH}",
                            "clients": clients,
                            **result,
                            "events_per_second": result["per_second"] * BATCH,
                        }
                    )
                else:
                    rows.append(
                        {
                            "variant": name,
                            "endpoint": f"/api/events/, lists of {BATCH}",
                            "error": f"not supported: HTTP {probe.status_code} {probe.text[:120]}",
                        }
                    )
            finally:
                server.stop()
    finally:
        cluster.stop()
    return rows


# --- section 13: a burst of emits ---------------------------------------------------------------


def section_burst(job, receiver) -> list[dict]:
    from webhooks_app import emit

    n, workers = job["n"], job["workers"]
    reset_state(receiver)
    make_webhook("burst", receiver.endpoint("ok", "burst"), ["bench.burst"])
    started = time.time()
    for i in range(n):  # autocommit: every emit is a transaction of its own
        emit("bench.burst", data={**EVENT_DATA, "id": i}, context=EVENT_CONTEXT)
    emit_seconds = time.time() - started
    queued = queue_length()
    say(f"{n} emits in {emit_seconds:.1f} s; {queued} wake-ups queued; starting {workers} workers")
    cluster = Cluster(job, workers).start()
    error = ""
    left = queued
    try:
        deadline = time.time() + job["time_cap"]
        stats, done = receiver.wait(
            lambda s: counter(s, "burst")["delivered"] >= n, ["burst"], timeout=job["time_cap"], interval=POLL
        )
        delivered_at = counter(stats, "burst")["last_new_at"]
        # Then until the queue is empty: every wake-up left runs a drain that finds nothing.
        while time.time() < deadline:
            left = queue_length()
            if left == 0:
                break
            time.sleep(0.5)
        emptied_at = time.time() if left == 0 else None
        time.sleep(1.0)  # the monitor records the last tasks
        if not done:
            error = report_stall(cluster, f"{counter(stats, 'burst')['delivered']} of {n} received in time")
        elif left:
            error = f"{left} wake-ups still queued after {job['time_cap']:.0f} s"
    finally:
        cluster.stop()
    drains = cluster.drains()
    burst = counter(stats, "burst")
    return [
        {
            "workers": workers,
            "emits": n,
            "emits_per_second": n / emit_seconds if emit_seconds else None,
            "queued_wakeups": queued,
            "received": burst["delivered"],
            "seconds_to_all": elapsed(delivered_at, cluster.started_at) if done else None,
            "seconds_to_empty_queue": elapsed(emptied_at, cluster.started_at),
            "queue_left": left,
            **drains,
            "error": error,
        }
    ]


# --- section 14: a profile of a drain -----------------------------------------------------------


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else None


# Frames every stack of a worker goes through (process start, django-q2's loop, threads):
# left out of the inclusive top, which is about what a drain does.
PLUMBING = (
    "manage.py",
    "django/core/management/",
    "django_q/",
    "multiprocessing/",
    "threading.py",
    "concurrent/futures/thread.py",
)


def profile_tops(raw: str, pids: set[int], top: int) -> tuple[list[dict], dict]:
    """Top entries by own time (and their inclusive share) over the stacks of ``pids``.

    ``raw`` is py-spy's raw (collapsed) output with --subprocesses: each line is
    ``process PID:"cmd";[process PID:"cmd";...]frame;...;leaf COUNT``.
    """
    own, inclusive = Tally(), Tally()
    total, everything = 0, 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        everything += samples
        frames = stack.split(";")
        # Processes nest (main;sentinel;worker): the last process frame owns the stack.
        owners = [f for f in frames if f.startswith("process ")]
        if owners:
            pid = owners[-1].split()[1].split(":")[0]
            if pids and (not pid.isdigit() or int(pid) not in pids):
                continue
            frames = frames[len(owners) :]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    rows = [
        {
            "rank": rank,
            "function": function,
            "own_samples": samples,
            "own_pct": samples * 100 / total,
            "inclusive_pct": inclusive[function] * 100 / total,
        }
        for rank, (function, samples) in enumerate(own.most_common(top), 1)
    ]
    by_inclusive = [
        {"function": f, "inclusive_pct": s * 100 / total}
        for f, s in inclusive.most_common()
        if not any(f"({prefix}" in f for prefix in PLUMBING)
    ][:top]
    return rows, {"worker_samples": total, "all_samples": everything, "inclusive": by_inclusive}


def section_profile(job, receiver) -> list[dict]:
    spy = py_spy()
    if not spy:
        return [{"rank": None, "error": "py-spy is not installed (pip install -e '.[bench]')"}]
    n = job["n"]
    reset_state(receiver)
    make_webhook("profile", receiver.endpoint("ok", "profile"), ["bench.drain"])
    emit_events("bench.drain", n)
    cluster = Cluster(job, job["workers"]).start()
    out = Path(job["workdir"]) / f"profile-{job['label']}.txt"
    error, raw, pids = "", "", []
    try:
        _, started = receiver.wait(lambda s: counter(s, "profile")["delivered"] >= 1, ["profile"], timeout=90)
        if not started:
            return [{"rank": None, "error": report_stall(cluster, "the drain did not start within 90 s")}]
        pids = cluster.worker_pids()
        command = [
            spy,
            "record",
            "--pid",
            str(cluster.proc.pid),
            "--subprocesses",
            "--duration",
            str(job["seconds"]),
            "--rate",
            str(job["rate"]),
            # Only the thread holding the GIL: where the worker's Python time goes (its send
            # threads and its claim/record loop share one GIL); waiting threads are left out.
            "--gil",
            "--format",
            "raw",
            "--nolineno",
            "--output",
            str(out),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=job["seconds"] + 60)
        if done.returncode != 0 or not out.exists():
            error = f"py-spy failed ({done.returncode}): {done.stderr.strip()[-300:]}"
        else:
            raw = out.read_text()
        stats, _ = receiver.wait(
            lambda s: counter(s, "profile")["delivered"] >= n, ["profile"], timeout=job["time_cap"]
        )
    finally:
        cluster.stop()
    if job.get("keep_dir") and raw:
        keep = Path(job["keep_dir"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, keep / out.name)
    if error or not raw:
        return [{"rank": None, "error": error or "py-spy recorded nothing"}]
    rows, summary = profile_tops(raw, set(pids), job["top"])
    delivered = counter(stats, "profile")["delivered"]
    for row in rows:
        row.update(summary_samples=summary["worker_samples"], deliveries=n, received=delivered)
    if rows:
        # Of the samples py-spy could take of the workers, the share with a thread holding the GIL.
        possible = job["seconds"] * job["rate"] * max(len(pids), 1)
        rows[0]["gil_busy_pct"] = summary["worker_samples"] * 100 / possible
        rows[0]["inclusive_top"] = summary["inclusive"]
        rows[0]["worker_pids"] = pids
        rows[0]["all_samples"] = summary["all_samples"]
    return rows


JOBS = {
    "e2e": section_e2e,
    "api": section_api,
    "http": section_http,
    "burst": section_burst,
    "profile": section_profile,
}


def run_job(job: dict) -> list[dict]:
    from tests.bench import sections

    sections.JOBS.update(JOBS)
    return sections.run_job(job)
