"""`make run` (manage.py rundemo): Ctrl-C or SIGTERM stops the web server, the cluster and its workers at once.

The demo runs for real on free ports with a SQLite database of its own; the test
waits until the console answers and the cluster runs, signals it, and requires
every process it started to be gone within 5 seconds.
"""

import contextlib
import http.client
import json
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


def demo_env(tmp_path) -> dict:
    """The environment of `make run` in a fresh clone, with a SQLite database of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_")
        and k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "DEBUG", "SECURE_COOKIES")
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}", PYTHONUNBUFFERED="1")
    return env


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
    env = demo_env(tmp_path)
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


# DEBUG off, static files served, a too-large body a short 413 -----------------------------


def demo_setting(code: str, **env) -> str:
    """What the demo settings evaluate to (print(...) of ``code``) in a fresh process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for name in ("DEBUG", "SECURE_COOKIES"):
        base.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; " + code,
        ],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_demo_runs_with_debug_off_unless_asked():
    code = "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    assert demo_setting(code) == "False True True"
    assert demo_setting(code, DEBUG="1") == "True False False"
    assert demo_setting(code, SECURE_COOKIES="0") == "False False False"


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_make_run_serves_static_files_with_debug_off_and_a_huge_body_gets_a_short_413(tmp_path):
    env = demo_env(tmp_path)
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
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not answers(port):
            assert demo.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.5)

        for path, content_type in [
            ("/static/webhooks_app/console.css", "text/css"),
            ("/static/webhooks_app/console.js", "text/javascript"),
            ("/static/webhooks_app/editors.js", "text/javascript"),
            ("/static/site.css", "text/css"),
        ]:
            status, headers, body = request(port, "GET", path)
            assert (status, headers["Content-Type"].split(";")[0]) == (200, content_type), path
            assert body
        status, _, body = request(port, "GET", "/no-such-page/")
        assert status == 404 and b"URLconf" not in body and b"DEBUG = True" not in body

        # The login page's cookie works over the demo's plain HTTP (not HTTPS-only).
        status, headers, body = request(port, "GET", "/accounts/login/")
        cookie = headers["Set-Cookie"]
        assert status == 200 and cookie.startswith("csrftoken=") and "secure" not in cookie.lower()
        csrf = cookie.split(";")[0].split("=", 1)[1]

        huge = b"username=admin&password=" + b"x" * (10 * 1024 * 1024)
        status, headers, body = request(
            port,
            "POST",
            "/accounts/login/",
            huge,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}"},
        )
        assert status == 413 and b"Request too large (413)" in body and len(body) < 500, body[:300]

        token = subprocess.run(
            [*manage, "webhooks_token", "admin"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()[-1]
        body = json.dumps({"event_type": "contact.created", "data": {"blob": "x" * (10 * 1024 * 1024)}})
        status, headers, answer = request(
            port,
            "POST",
            "/api/events/",
            body.encode(),
            {"Content-Type": "application/json", "Authorization": f"Token {token}"},
        )
        assert status == 413 and headers["Content-Type"] == "application/json", answer[:300]
        assert json.loads(answer) == {
            "detail": "The request body is larger than the 2621440 bytes this server accepts."
        }
        assert "Traceback" not in log_path.read_text(errors="replace")
    finally:
        started = descendants(demo.pid)
        demo.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            demo.wait(STOPPED_WITHIN + 5)
        for pid in [demo.pid, *started]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        demo.wait(10)
