"""`make run` (manage.py rundemo): Ctrl-C or SIGTERM stops the web server, the cluster and its workers at once.

The demo runs for real on free ports with a SQLite database of its own; the test
waits until the console answers and the cluster runs, signals it, and requires
every process it started to be gone within 5 seconds.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STOPPED_WITHIN = 5.0

pytestmark = [
    pytest.mark.cluster,
    # The PostgreSQL run of `make test` repeats the suite for the database; the demo
    # runs on a SQLite database of its own here, so the SQLite run covers it.
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")),
        reason="does not use the test database: run once, in the SQLite run",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every process below pid (children, grandchildren...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent has not read its status yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/settings/webhooks/")
        status = connection.getresponse().status
        connection.close()
        return status in (200, 302)
    except OSError:
        return False


def ignore_sigint() -> None:
    # What a non-interactive shell does to a job it starts with `&`: the job and
    # everything it starts inherit SIGINT as ignored, unless they set a handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "how",
    [
        "ctrl-c",  # SIGINT to the whole foreground job, as a terminal sends it
        "ctrl-c, started by a non-interactive shell",  # SIGINT ignored by inheritance
        "sigterm",  # to the command's own process only, as `kill <pid>` or a supervisor does
    ],
)
def test_every_process_of_the_demo_stops_within_seconds(tmp_path, how):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_") and k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}", PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    log_path = tmp_path / "rundemo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [*manage, "rundemo", "--port", str(port), "--receiver-port", str(free_port())],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a job of its own, as in a terminal
            preexec_fn=ignore_sigint if "non-interactive" in how else None,
        )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not (answers(port) and "running." in log_path.read_text(errors="replace")):
            assert demo.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.5)
        started = descendants(demo.pid)
        assert len(started) >= 3, "runserver, qcluster and its workers"

        signalled = time.monotonic()
        if how == "sigterm":
            demo.send_signal(signal.SIGTERM)
        else:
            os.killpg(demo.pid, signal.SIGINT)
        while (demo.poll() is None or any(running(pid) for pid in started)) and (
            time.monotonic() - signalled < STOPPED_WITHIN + 5
        ):
            time.sleep(0.1)
        took = time.monotonic() - signalled
        left = sorted(pid for pid in started if running(pid))
        assert demo.poll() is not None and not left, f"still running after {took:.1f} s: rundemo and {left}"
        assert took < STOPPED_WITHIN, f"stopping took {took:.1f} s"
        assert demo.returncode == 0 and "Stopped." in log_path.read_text(errors="replace")
    finally:
        for pid in [demo.pid, *started]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        demo.wait(10)
